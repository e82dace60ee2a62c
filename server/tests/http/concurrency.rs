//! THE concurrency test, over real HTTP on SQLite and on PostgreSQL: 50 funded wallets, 20,000
//! random P2P transfers sent 32 at a time, a sixth of them repeating an earlier request's
//! `Idempotency-Key` (the same body, or another body). Afterwards: every key moved money at most
//! once and all its answers agree; the balances the API reports are exactly what the 201 answers
//! add up to; no wallet is negative; total money is unchanged; the ledger verifies (hash chain,
//! balances, zero sums) through the library and through `purse ledger verify`.
//!
//! `PURSE_TEST_SEED=<u64>` replays one random sequence; the seed is printed on every run.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use purse_server::with_db;
use serde_json::json;

use crate::transfers::{Member, Sent, fund, get_auth, member, open_wallet, send_via, start_with};
use crate::util::{BACKENDS, Backend};

const WALLETS: usize = 50;
const TRANSFERS: usize = 20_000;
/// Requests in flight at once (the client side's concurrency).
const CLIENTS: usize = 32;
const FUND_MINOR: i64 = 10_000;
/// Transfers of 0.01 to 20.00: wallets run dry now and then, so refusals are part of the mix.
const AMOUNT_MINOR_MAX: u64 = 2_000;
/// How often one request is retried after 429/503 before the test gives up on it.
const RETRIES_MAX: usize = 100;

/// xorshift64*: a small, seedable generator so a failing sequence can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub fn seed() -> u64 {
    match std::env::var("PURSE_TEST_SEED") {
        Ok(text) => text.parse().expect("PURSE_TEST_SEED is a u64"),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_nanos() as u64
                | 1
        }
    }
}

pub fn usd_text(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn parse_usd(text: &str) -> i64 {
    let (units, cents) = text.split_once('.').expect("two decimals");
    assert_eq!(cents.len(), 2, "{text}");
    units.parse::<i64>().expect("units") * 100 + cents.parse::<i64>().expect("cents")
}

/// One request of the run.
#[derive(Clone)]
struct Op {
    from: usize,
    key: String,
    body: Vec<u8>,
}

/// The final answer to one op (after retries of 429/503).
struct Outcome {
    op: usize,
    sent: Sent,
    retries: usize,
}

async fn run_op(client: &awc::Client, base: &str, who: &Member, op: &Op, index: usize) -> Outcome {
    let mut retries = 0;
    loop {
        let sent = send_via(client, base, who, Some(&op.key), &op.body).await;
        let transient = sent.reply.status == 429 || sent.reply.status == 503;
        if !transient || retries == RETRIES_MAX {
            return Outcome {
                op: index,
                sent,
                retries,
            };
        }
        retries += 1;
        // Retry as a client should: same key, same body, after a pause.
        let wait_ms = if sent.retry_after.is_some() { 20 } else { 5 };
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    }
}

async fn concurrent_run(backend: Backend) {
    let Some(server) = start_with(backend, "concurrency_20000_transfers", |config| {
        config.db_pool_max = 8;
    }) else {
        return;
    };
    let base = server.base.as_str();
    let seed = seed();
    eprintln!("{backend:?}: PURSE_TEST_SEED={seed}");
    let mut rng = Rng(seed);

    // 50 members with a device and a funded USD wallet each.
    let started = Instant::now();
    let mut members: Vec<Member> = Vec::with_capacity(WALLETS);
    let emails: Vec<String> = (0..WALLETS).map(|i| format!("m{i}@example.com")).collect();
    for (chunk, first) in emails.chunks(10).zip((0..WALLETS).step_by(10)) {
        let joined = join_all(
            chunk
                .iter()
                .zip(first..)
                .map(|(email, i)| member(base, email, i as u8 + 1)),
        )
        .await;
        members.extend(joined);
    }
    let mut wallets = Vec::with_capacity(WALLETS);
    for who in &members {
        let wallet = open_wallet(base, who, "USD").await;
        fund(base, &wallet, &usd_text(FUND_MINOR)).await;
        wallets.push(wallet);
    }
    eprintln!(
        "{backend:?}: {WALLETS} members signed up and funded in {:?}",
        started.elapsed()
    );

    // The sequence: fresh transfers, repeats of a recent request (same key, same body), and
    // reuses of a recent key with another body.
    let mut ops: Vec<Op> = Vec::with_capacity(TRANSFERS);
    let (mut repeats, mut reuses) = (0, 0);
    for i in 0..TRANSFERS {
        let roll = rng.below(100);
        if i >= 8 && roll < 15 {
            let earlier = ops[i - 1 - rng.below(i.min(64))].clone();
            ops.push(earlier);
            repeats += 1;
            continue;
        }
        if i >= 8 && roll < 17 {
            let earlier = ops[i - 1 - rng.below(i.min(64))].clone();
            let mut body: serde_json::Value = serde_json::from_slice(&earlier.body).unwrap();
            let minor = parse_usd(body["amount"].as_str().unwrap()) + 1;
            body["amount"] = json!(usd_text(minor));
            ops.push(Op {
                body: serde_json::to_vec(&body).unwrap(),
                ..earlier
            });
            reuses += 1;
            continue;
        }
        let from = rng.below(WALLETS);
        let to = (from + 1 + rng.below(WALLETS - 1)) % WALLETS;
        let amount = 1 + (rng.next() % AMOUNT_MINOR_MAX) as i64;
        let body = json!({
            "from_wallet": wallets[from],
            "to": wallets[to],
            "amount": usd_text(amount),
            "currency": "USD",
        });
        ops.push(Op {
            from,
            key: format!(
                "k{i}-{}",
                purse_server::ids::new_id(purse_server::ids::IdKind::Session)
            ),
            body: serde_json::to_vec(&body).unwrap(),
        });
    }

    // Fire them, CLIENTS at a time, over one pooled HTTP client.
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let started = Instant::now();
    let outcomes: Vec<Outcome> = futures_util::stream::iter(ops.iter().enumerate())
        .map(|(index, op)| run_op(&client, base, &members[op.from], op, index))
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut by_status: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for outcome in &outcomes {
        let code = outcome.sent.reply.json["code"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        *by_status
            .entry((outcome.sent.reply.status, code))
            .or_default() += 1;
    }
    let retried: usize = outcomes.iter().map(|o| o.retries).sum();
    eprintln!(
        "{backend:?}: {TRANSFERS} requests ({repeats} repeats, {reuses} reuses) in {elapsed:?} \
         = {:.0}/s with {CLIENTS} clients; {retried} retries of 429/503; answers {by_status:?}",
        TRANSFERS as f64 / elapsed.as_secs_f64()
    );

    // Only these answers are right; anything else (a 5xx, a retried-out 429) fails the run.
    for outcome in &outcomes {
        let reply = &outcome.sent.reply;
        let code = reply.json["code"].as_str().unwrap_or("");
        let allowed = matches!(
            (reply.status, code),
            (201, _)
                | (402, "insufficient_funds")
                | (409, "idempotency_key_in_use")
                | (422, "idempotency_key_reused")
        );
        assert!(
            allowed,
            "op {} answered {}: {}",
            outcome.op, reply.status, reply.text
        );
    }

    // Per key: every deciding answer (201 or 402) is the same answer, so money moved at most
    // once; 422 only for a body other than the one that decided.
    let mut by_key: HashMap<(usize, &str), Vec<&Outcome>> = HashMap::new();
    for outcome in &outcomes {
        let op = &ops[outcome.op];
        by_key
            .entry((op.from, op.key.as_str()))
            .or_default()
            .push(outcome);
    }
    let mut committed: HashMap<String, (String, String, i64)> = HashMap::new();
    for ((_, key), answers) in &by_key {
        let deciding: Vec<&&Outcome> = answers
            .iter()
            .filter(|o| matches!(o.sent.reply.status, 201 | 402))
            .collect();
        if let Some(first) = deciding.first() {
            for other in &deciding {
                assert_eq!(
                    other.sent.reply.text, first.sent.reply.text,
                    "key {key}: two different answers"
                );
                assert_eq!(
                    ops[other.op].body, ops[first.op].body,
                    "key {key}: two bodies decided"
                );
            }
            for reused in answers.iter().filter(|o| o.sent.reply.status == 422) {
                assert_ne!(ops[reused.op].body, ops[first.op].body, "key {key}");
            }
            if first.sent.reply.status == 201 {
                let t = &first.sent.reply.json;
                let previous = committed.insert(
                    t["id"].as_str().expect("id").to_owned(),
                    (
                        t["from"].as_str().unwrap().to_owned(),
                        t["to"].as_str().unwrap().to_owned(),
                        parse_usd(t["amount"].as_str().unwrap()),
                    ),
                );
                assert!(previous.is_none(), "one transfer id for two keys");
            }
        }
    }

    // The balances are exactly what the answered transfers add up to.
    let mut expected: HashMap<&str, i64> =
        wallets.iter().map(|w| (w.as_str(), FUND_MINOR)).collect();
    for (from, to, amount) in committed.values() {
        *expected.get_mut(from.as_str()).expect("our wallet") -= amount;
        *expected.get_mut(to.as_str()).expect("our wallet") += amount;
    }
    let mut total = 0;
    for (who, wallet) in members.iter().zip(&wallets) {
        let reply = get_auth(base, &format!("/v1/wallets/{wallet}"), &who.token).await;
        let balance = parse_usd(reply.json["balance"].as_str().expect("balance"));
        assert!(balance >= 0, "{wallet} is negative: {balance}");
        assert_eq!(balance, expected[wallet.as_str()], "balance of {wallet}");
        total += balance;
    }
    assert_eq!(
        total,
        FUND_MINOR * WALLETS as i64,
        "money was created or lost"
    );

    // The ledger holds exactly the answered transfers, and verifies.
    let db = server.db().open().await;
    let p2p: i64 = with_db!(&db, pool => sqlx::query_scalar("SELECT count(*) FROM transfers WHERE kind = 'p2p'")
        .fetch_one(pool)
        .await)
    .expect("count");
    assert_eq!(p2p as usize, committed.len(), "transfers without a 201");
    let report = purse_server::ledger::verify::verify(&db)
        .await
        .expect("the ledger verifies");
    assert_eq!(
        report.wallet_totals.get("USD"),
        Some(&i128::from(FUND_MINOR * WALLETS as i64))
    );
    assert_eq!(report.transfers, p2p + WALLETS as i64);
    db.close().await;
    let out = server.purse(&["ledger", "verify"]);
    assert_eq!(
        out.status, 0,
        "purse ledger verify: {}{}",
        out.stdout, out.stderr
    );
    eprintln!(
        "{backend:?}: {} transfers committed, {} keys, ledger verified",
        committed.len(),
        by_key.len()
    );
}

#[actix_rt::test]
async fn twenty_thousand_concurrent_transfers_conserve_money_on_sqlite() {
    concurrent_run(BACKENDS[0]).await;
}

#[actix_rt::test]
async fn twenty_thousand_concurrent_transfers_conserve_money_on_postgres() {
    concurrent_run(BACKENDS[1]).await;
}
