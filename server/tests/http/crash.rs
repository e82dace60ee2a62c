//! Crash safety (DESIGN.md invariants 1, 2, 4, 5): a real `purse serve` process under concurrent
//! device-signed P2P transfers and merchant payments (a static code) with `Idempotency-Key`, killed with SIGKILL at random moments
//! ([`KILLS`] times) and restarted on the same database, on SQLite and on PostgreSQL (a fresh
//! database per run). Every request that got no answer (connection refused or cut, 5xx, 409,
//! 429) is retried with its same key and body and a fresh signature, by its worker while the run
//! lasts (a 409 for a key the killed process had claimed is set aside) and afterwards until it
//! is answered. Then: every 201 exists exactly once in the ledger
//! (under its key's reference, with the answered id) and replays that id; every 402 moved
//! nothing; no transfer exists that no request asked for; per currency all balances (system
//! accounts included) sum to zero and the wallets hold exactly what was funded; no wallet is
//! negative; `purse ledger verify` exits 0. The figures are printed (`--nocapture`).
//!
//! `PURSE_TEST_SEED=<u64>` replays the random choices (amounts, pairs, kill moments); the
//! interleaving with the server is real and not replayed.
//!
//! The load and the checks are shared with the two-process test ([`crate::two_process`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use purse_server::with_db;
use serde_json::json;

use crate::concurrency::{Rng, seed, usd_text};
use crate::transfers::{ADMIN_TOKEN, Member, Sent, fund, member, open_wallet, try_signed_post};
use crate::util::{Backend, ServeProcess, TestDb, free_port};

/// SIGKILLs per run.
pub const KILLS: usize = 6;
const WALLETS: usize = 16;
const FUND_MINOR: i64 = 10_000;
/// Transfers of 0.01 to 15.00 from wallets of 100.00: some run dry, so refusals are in the mix.
const AMOUNT_MINOR_MAX: u64 = 1_500;
/// Requests in flight at once.
const WORKERS: usize = 12;
/// Load between a restart being ready and the next kill, in ms (a random moment in this range).
const LOAD_BETWEEN_KILLS_MS: (u64, u64) = (400, 1_600);
/// Attempts per request after the load stopped before the test gives up on it (and fails): 50 ms
/// apart, well beyond the idempotency claim lease (`CLAIM_LEASE_MS`, 10 s).
const FINAL_ATTEMPTS_MAX: usize = 400;
/// Acknowledged transfers re-sent at the end to check that they replay.
const REPLAYS_MAX: usize = 400;

/// The environment every `purse serve` of these tests gets: the operator API on (funding), no
/// daily limit (the load sends more than 5,000.00 a day from some wallets), no payment velocity
/// limit (the load pays more often than 30 times a minute per device).
pub const SERVE_ENV: [(&str, &str); 4] = [
    ("PURSE_ADMIN_TOKEN", ADMIN_TOKEN),
    ("PURSE_LIMITS_DAILY_MAX", "none"),
    ("PURSE_RISK_VELOCITY_PER_MINUTE", "1000000"),
    ("PURSE_HTTP_WORKERS", "2"),
];

/// One transfer request: who sends it, under which key, with which exact body.
#[derive(Clone, Debug)]
pub struct Op {
    pub from: usize,
    /// `/v1/transfers` or `/v1/payments`.
    pub path: &'static str,
    pub key: String,
    pub body: Vec<u8>,
}

/// What finally became of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// 201 with this transfer id.
    Created(String),
    /// A recorded refusal (status, code), e.g. 402 insufficient_funds.
    Refused(u16, String),
    /// Never answered (only after [`FINAL_ATTEMPTS_MAX`]; fails the test).
    Unanswered,
}

/// Figures of one run.
#[derive(Default, Debug)]
pub struct Tally {
    /// HTTP requests made (first attempts and retries).
    pub sent: usize,
    /// Requests that got no answer that decides them, by kind (`connect: ...`, `timeout`,
    /// `io: ...`, `http 503 ...`).
    pub errors: BTreeMap<String, usize>,
    pub created: usize,
    pub refused: usize,
    /// Distinct operations (keys) that needed at least one retry.
    pub retried_ops: usize,
}

impl Tally {
    pub fn acknowledged(&self) -> usize {
        self.created + self.refused
    }

    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

/// The kind of an answer that does not decide a request, or `None` for a deciding one.
pub fn undecided(result: &Result<Sent, awc::error::SendRequestError>) -> Option<String> {
    use awc::error::SendRequestError as E;
    match result {
        Err(E::Connect(err)) => Some(format!("connect: {err}")),
        Err(E::Timeout) => Some("timeout".to_owned()),
        Err(err) => Some(format!("io: {err}")),
        Ok(sent) => {
            let status = sent.reply.status;
            if status >= 500 || status == 409 || status == 429 {
                let code = sent.reply.json["code"].as_str().unwrap_or("").to_owned();
                Some(format!("http {status} {code}"))
            } else {
                None
            }
        }
    }
}

/// The fate a deciding answer gives.
pub fn fate_of(sent: &Sent) -> Fate {
    if sent.reply.status == 201 {
        Fate::Created(sent.reply.json["id"].as_str().expect("id").to_owned())
    } else {
        Fate::Refused(
            sent.reply.status,
            sent.reply.json["code"].as_str().unwrap_or("").to_owned(),
        )
    }
}

/// Members with a device and a funded USD wallet each, made through `base`.
pub async fn setup(base: &str, count: usize, fund_minor: i64) -> (Vec<Member>, Vec<String>) {
    let mut members = Vec::with_capacity(count);
    let mut wallets = Vec::with_capacity(count);
    for i in 0..count {
        let who = member(base, &format!("c{i}@example.com"), i as u8 + 1).await;
        let wallet = open_wallet(base, &who, "USD").await;
        fund(base, &wallet, &usd_text(fund_minor)).await;
        members.push(who);
        wallets.push(wallet);
    }
    (members, wallets)
}

/// A fresh random transfer between two different wallets.
pub fn random_op(rng: &mut Rng, wallets: &[String], amount_minor_max: u64, label: &str) -> Op {
    let from = rng.below(wallets.len());
    let to = (from + 1 + rng.below(wallets.len() - 1)) % wallets.len();
    let amount = 1 + (rng.next() % amount_minor_max) as i64;
    let body = json!({
        "from_wallet": wallets[from],
        "to": wallets[to],
        "amount": usd_text(amount),
        "currency": "USD",
    });
    Op {
        from,
        path: "/v1/transfers",
        key: format!(
            "{label}-{}",
            purse_server::ids::new_id(purse_server::ids::IdKind::Session)
        ),
        body: serde_json::to_vec(&body).expect("json"),
    }
}

/// A payment of a random amount from a random wallet to a merchant's static code `payload`.
pub fn payment_op(rng: &mut Rng, wallets: &[String], payload: &str, label: &str) -> Op {
    let from = rng.below(wallets.len());
    let amount = 1 + (rng.next() % AMOUNT_MINOR_MAX) as i64;
    let body = json!({"payload": payload, "wallet": wallets[from], "amount": usd_text(amount)});
    Op {
        from,
        path: "/v1/payments",
        key: format!(
            "{label}-pay-{}",
            purse_server::ids::new_id(purse_server::ids::IdKind::Session)
        ),
        body: serde_json::to_vec(&body).expect("json"),
    }
}

/// Sends `op` to `base` until it is decided or `attempts_max` attempts were made (pausing 50 ms
/// after each undecided one); counts everything in `tally`.
pub async fn send_until_decided(
    client: &awc::Client,
    base: &str,
    who: &Member,
    op: &Op,
    attempts_max: usize,
    tally: &RefCell<Tally>,
) -> Option<Sent> {
    for attempt in 0..attempts_max {
        let result = try_signed_post(client, base, op.path, who, Some(&op.key), &op.body).await;
        let Some(kind) = undecided(&result) else {
            tally.borrow_mut().sent += 1;
            return result.ok();
        };
        {
            let mut t = tally.borrow_mut();
            t.sent += 1;
            *t.errors.entry(kind).or_default() += 1;
            if attempt == 0 {
                t.retried_ops += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// What the database holds after a run: every P2P and payment transfer (reference -> transfer
/// id) and every payment row ((payer, key) -> (payment id, status, transfer id)).
pub struct Stored {
    pub transfers: HashMap<String, String>,
    pub payments: HashMap<(String, String), (String, String, Option<String>)>,
}

pub async fn stored(db: &TestDb) -> Stored {
    let db = db.open().await;
    let rows: Vec<(String, String)> = with_db!(&db, pool => sqlx::query_as(
        "SELECT reference, id FROM transfers WHERE kind IN ('p2p', 'payment')"
    )
    .fetch_all(pool)
    .await)
    .expect("transfers");
    let payments: Vec<(String, String, String, String, Option<String>)> =
        with_db!(&db, pool => sqlx::query_as(
            "SELECT payer_id, idempotency_key, id, status, transfer_id FROM payments"
        )
        .fetch_all(pool)
        .await)
        .expect("payments");
    db.close().await;
    let count = rows.len();
    let transfers: HashMap<String, String> = rows.into_iter().collect();
    assert_eq!(transfers.len(), count, "one reference twice in the ledger");
    Stored {
        transfers,
        payments: payments
            .into_iter()
            .map(|(payer, key, id, status, transfer)| ((payer, key), (id, status, transfer)))
            .collect(),
    }
}

/// The ledger-wide money checks after a run: per currency all balances sum to zero, the wallets
/// hold `wallet_total_minor` in USD, no wallet is negative, and `purse ledger verify` exits 0.
pub async fn assert_money_conserved(db: &TestDb, wallet_total_minor: i64) {
    let open = db.open().await;
    let sums: Vec<(String, String, i64, i64)> = with_db!(&open, pool => sqlx::query_as(
        "SELECT kind, currency, CAST(SUM(balance_minor) AS BIGINT), MIN(balance_minor) \
         FROM accounts GROUP BY kind, currency ORDER BY kind, currency"
    )
    .fetch_all(pool)
    .await)
    .expect("balances");
    open.close().await;
    let mut per_currency: BTreeMap<&str, i64> = BTreeMap::new();
    for (kind, currency, sum, min) in &sums {
        *per_currency.entry(currency.as_str()).or_default() += sum;
        if kind == "wallet" {
            assert!(*min >= 0, "a {currency} wallet is negative: {min}");
        }
    }
    for (currency, sum) in &per_currency {
        assert_eq!(*sum, 0, "{currency}: balances do not sum to zero: {sums:?}");
    }
    let wallets_usd = sums
        .iter()
        .find(|(kind, currency, _, _)| kind == "wallet" && currency == "USD")
        .map(|(_, _, sum, _)| *sum);
    assert_eq!(
        wallets_usd,
        Some(wallet_total_minor),
        "money was created or lost"
    );
    let out = db.purse(&["ledger", "verify"]);
    assert_eq!(
        out.status, 0,
        "purse ledger verify: {}{}",
        out.stdout, out.stderr
    );
}

/// The transactional outbox (`Ledger::transfer_with`): every P2P transfer in the ledger has
/// exactly one `transfer.received` event, and no such event names a transfer that is not there,
/// whatever the kills cut. Answers how many P2P transfers there are.
pub async fn assert_every_p2p_transfer_announced_once(db: &TestDb) -> usize {
    let open = db.open().await;
    let transfers: Vec<String> = with_db!(&open, pool => sqlx::query_scalar(
        "SELECT 'transfer:' || id FROM transfers WHERE kind = 'p2p' ORDER BY 1"
    )
    .fetch_all(pool)
    .await)
    .expect("p2p transfers");
    let events: Vec<String> = with_db!(&open, pool => sqlx::query_scalar(
        "SELECT dedupe_key FROM events WHERE type = 'transfer.received' ORDER BY 1"
    )
    .fetch_all(pool)
    .await)
    .expect("transfer events");
    open.close().await;
    assert_eq!(
        events, transfers,
        "P2P transfers and their transfer.received events differ"
    );
    transfers.len()
}

/// The per-request checks: every 201 is in the ledger exactly once under its reference with the
/// answered id (a payment: its row succeeded, its transfer `pay:<id>`); every refusal moved
/// nothing; the ledger holds no P2P or payment transfer that no request asked for. Answers how
/// many requests moved money.
pub fn assert_fates(members: &[Member], fates: &[(Op, Fate)], stored: &Stored) -> usize {
    let ledger = &stored.transfers;
    let mut ours = 0;
    for (op, fate) in fates {
        let user = &members[op.from].user_id;
        // The ledger reference this request moves money under, if it has one yet.
        let reference = if op.path == "/v1/payments" {
            let row = stored.payments.get(&(user.clone(), op.key.clone()));
            if let Fate::Created(id) = fate {
                let (row_id, status, transfer) = row.expect("an acknowledged payment has a row");
                assert_eq!((row_id, status.as_str()), (id, "succeeded"), "payment {id}");
                assert_eq!(
                    ledger.get(&format!("pay:{id}")),
                    transfer.as_ref(),
                    "payment {id}: its transfer"
                );
            }
            row.map(|(id, _, _)| format!("pay:{id}"))
        } else {
            if let Fate::Created(id) = fate {
                assert!(id.starts_with("txn_"), "{id}");
            }
            Some(format!("p2p:{user}:{}", op.key))
        };
        let moved = reference.as_ref().is_some_and(|r| ledger.contains_key(r));
        match fate {
            Fate::Created(id) => {
                assert!(
                    moved,
                    "acknowledged {id} ({reference:?}) is not in the ledger"
                );
                if op.path == "/v1/transfers" {
                    assert_eq!(ledger.get(reference.as_ref().expect("p2p")), Some(id));
                }
            }
            Fate::Refused(status, code) => assert!(
                !moved,
                "{} {} answered {status} {code} but moved money",
                op.path, op.key
            ),
            Fate::Unanswered => panic!("{} {} was never answered", op.path, op.key),
        }
        ours += usize::from(moved);
    }
    assert_eq!(
        ours,
        ledger.len(),
        "the ledger holds transfers no request asked for"
    );
    ours
}

async fn crash_run(backend: Backend) {
    let test = "crash_sigkill_under_load";
    let Some(db) = TestDb::new(backend, test) else {
        return;
    };
    let seed = seed();
    eprintln!("{backend:?}: PURSE_TEST_SEED={seed}");
    let rng = RefCell::new(Rng(seed));
    let port = free_port();
    let started = Instant::now();
    let server = RefCell::new(ServeProcess::start(&db, port, &SERVE_ENV).await);
    let base = server.borrow().base.clone();
    let (members, wallets) = setup(&base, WALLETS, FUND_MINOR).await;
    // A merchant with a static code: a quarter of the load pays it.
    let shop = crate::merchants::shop(&base, "shop@example.com", 100).await;
    let payload = crate::payments::qr_payload(&base, &shop, &json!({})).await;
    eprintln!(
        "{backend:?}: {WALLETS} wallets funded in {:?}",
        started.elapsed()
    );

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let tally = RefCell::new(Tally::default());
    let fates: RefCell<Vec<(Op, Fate)>> = RefCell::new(Vec::new());
    let leftovers: RefCell<Vec<Op>> = RefCell::new(Vec::new());
    let stop = Rc::new(std::cell::Cell::new(false));
    let downtimes: RefCell<Vec<Duration>> = RefCell::new(Vec::new());
    let load_started = Instant::now();

    // Workers: a fresh transfer each time; an undecided one is retried (same key, same body,
    // fresh signature) until decided or the load stops.
    let worker = |index: usize| {
        let (client, base, members, wallets, payload) =
            (&client, &base, &members, &wallets, &payload);
        let (rng, tally, fates, leftovers, stop) = (&rng, &tally, &fates, &leftovers, &stop);
        async move {
            while !stop.get() {
                let op = {
                    let mut rng = rng.borrow_mut();
                    let label = format!("w{index}");
                    if rng.below(4) == 0 {
                        payment_op(&mut rng, wallets, payload, &label)
                    } else {
                        random_op(&mut rng, wallets, AMOUNT_MINOR_MAX, &label)
                    }
                };
                let who = &members[op.from];
                let mut first = true;
                loop {
                    let result =
                        try_signed_post(client, base, op.path, who, Some(&op.key), &op.body).await;
                    let Some(kind) = undecided(&result) else {
                        let sent = result.expect("decided");
                        let fate = fate_of(&sent);
                        assert!(
                            matches!(&fate, Fate::Created(_))
                                || sent.reply.json["code"] == "insufficient_funds",
                            "unexpected answer {}: {}",
                            sent.reply.status,
                            sent.reply.text
                        );
                        let mut t = tally.borrow_mut();
                        t.sent += 1;
                        match &fate {
                            Fate::Created(_) => t.created += 1,
                            _ => t.refused += 1,
                        }
                        fates.borrow_mut().push((op, fate));
                        break;
                    };
                    // A key a killed process had claimed (PostgreSQL) is 409 until the claim's
                    // lease ends: set it aside for the final retries and go on with new work.
                    let in_use = kind.starts_with("http 409");
                    {
                        let mut t = tally.borrow_mut();
                        t.sent += 1;
                        *t.errors.entry(kind).or_default() += 1;
                        if first {
                            t.retried_ops += 1;
                            first = false;
                        }
                    }
                    if stop.get() || in_use {
                        leftovers.borrow_mut().push(op);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };

    // The killer: SIGKILL at a random moment of the load, restart on the same database and port.
    let killer = async {
        for _ in 0..KILLS {
            let (low, high) = LOAD_BETWEEN_KILLS_MS;
            let wait_ms = low + rng.borrow_mut().next() % (high - low);
            tokio::time::sleep(Duration::from_millis(wait_ms)).await;
            server.borrow_mut().kill9();
            let down = Instant::now();
            let restarted = ServeProcess::start(&db, port, &SERVE_ENV).await;
            downtimes.borrow_mut().push(down.elapsed());
            *server.borrow_mut() = restarted;
        }
        // Some load on the last restart, then stop.
        tokio::time::sleep(Duration::from_millis(LOAD_BETWEEN_KILLS_MS.0)).await;
        stop.set(true);
    };
    tokio::join!(killer, join_all((0..WORKERS).map(worker)));
    let load_elapsed = load_started.elapsed();

    // Requests still undecided when the load stopped: retried until answered.
    for op in leftovers.take() {
        let sent = send_until_decided(
            &client,
            &base,
            &members[op.from],
            &op,
            FINAL_ATTEMPTS_MAX,
            &tally,
        )
        .await;
        let fate = sent.as_ref().map_or(Fate::Unanswered, fate_of);
        match &fate {
            Fate::Created(_) => tally.borrow_mut().created += 1,
            Fate::Refused(..) => tally.borrow_mut().refused += 1,
            Fate::Unanswered => {}
        }
        fates.borrow_mut().push((op, fate));
    }

    // Acknowledged transfers replay their id (through the record, or the ledger's reference
    // when a crash lost the record).
    let fates = fates.take();
    let created: Vec<&(Op, Fate)> = fates
        .iter()
        .filter(|(_, fate)| matches!(fate, Fate::Created(_)))
        .collect();
    let step = created.len().div_ceil(REPLAYS_MAX).max(1);
    let mut replays = 0;
    let replay_tally = RefCell::new(Tally::default());
    for (op, fate) in created.iter().step_by(step) {
        let sent = send_until_decided(&client, &base, &members[op.from], op, 20, &replay_tally)
            .await
            .expect("a replay is answered");
        assert_eq!(&fate_of(&sent), fate, "{} did not replay", op.key);
        replays += 1;
    }
    server.borrow_mut().stop();

    let stored = stored(&db).await;
    let applied = assert_fates(&members, &fates, &stored);
    assert_money_conserved(&db, FUND_MINOR * WALLETS as i64).await;
    let announced = assert_every_p2p_transfer_announced_once(&db).await;
    let payments = fates
        .iter()
        .filter(|(op, fate)| op.path == "/v1/payments" && matches!(fate, Fate::Created(_)))
        .count();
    let t = tally.borrow();
    eprintln!(
        "{backend:?}: {kills} SIGKILLs in {load_elapsed:?} of load ({total:?} in all), \
         restart to ready {downtimes:?}; \
         {ops} money requests ({retried} needed retries), {sent} HTTP requests sent; \
         acknowledged {ack} ({created} created of which {payments} payments, {refused} \
         refused 402); {errors} undecided \
         answers {kinds:?} ({rate:.1}% of requests); {applied} requests moved money in the ledger, \
         each once; then {replays} acknowledged ones re-sent: each replayed its id; money conserved, \
         ledger verified; {announced} P2P transfers, each with its one transfer.received event",
        kills = KILLS,
        downtimes = downtimes.borrow(),
        total = started.elapsed(),
        ops = fates.len(),
        retried = t.retried_ops,
        sent = t.sent,
        ack = t.acknowledged(),
        created = t.created,
        refused = t.refused,
        errors = t.error_count(),
        kinds = t.errors,
        rate = 100.0 * t.error_count() as f64 / t.sent as f64,
    );
    assert!(t.created > 0, "no transfer went through");
    assert!(
        t.error_count() > 0,
        "no request was cut by a kill: the test did not test anything"
    );
}

#[actix_rt::test]
async fn sigkill_under_load_loses_nothing_on_sqlite() {
    crash_run(Backend::Sqlite).await;
}

#[actix_rt::test]
async fn sigkill_under_load_loses_nothing_on_postgres() {
    crash_run(Backend::Postgres).await;
}

/// Regression: a top-up whose capture webhook was lost in a crash stayed `pending` for good
/// (the in-process sandbox queues its webhooks in memory, and a real provider may give up). Now
/// the owner's read of a top-up pending for more than `PENDING_RECHECK_AFTER_MS` re-reads the
/// intent: the SIGKILLed server, restarted, settles it on the next `GET /v1/topups/{id}`,
/// crediting the wallet once.
#[actix_rt::test]
async fn topup_whose_webhook_died_with_the_server_settles_on_read() {
    use crate::topups::{confirm, sandbox, topup};
    use crate::transfers::{balance, get_auth};

    for backend in crate::util::BACKENDS {
        let Some(db) = TestDb::new(backend, "topup_webhook_lost_in_crash") else {
            continue;
        };
        let port = free_port();
        let mut server = ServeProcess::start(&db, port, &SERVE_ENV).await;
        let base = server.base.clone();
        let ann = member(&base, "ann@example.com", 1).await;
        let wallet = open_wallet(&base, &ann, "USD").await;
        // The capture webhook waits 30 s: the kill comes first.
        let faults = sandbox(
            &base,
            "POST",
            "/admin/faults",
            Some(json!({"delay_ms": 30_000})),
        );
        assert_eq!(faults.await.status, 200);
        let created = topup(&base, &ann, &wallet, "5.00", "card").await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.json["id"].as_str().expect("id").to_owned();
        let confirmed = confirm(
            created.json["next_action"]["url"].as_str().expect("url"),
            "approve",
        )
        .await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.text);
        let path = format!("/v1/topups/{id}");
        assert_eq!(
            get_auth(&base, &path, &ann.token).await.json["status"],
            "pending"
        );

        server.kill9();
        let killed_at = Instant::now();
        let server = ServeProcess::start(&db, port, &SERVE_ENV).await;
        let deadline = killed_at + Duration::from_secs(30);
        let settled = loop {
            let reply = get_auth(&base, &path, &ann.token).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            if reply.json["status"] != "pending" {
                break reply;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: top-up {id} still pending 30 s after the restart"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(settled.json["status"], "succeeded", "{}", settled.text);
        assert_eq!(balance(&base, &ann, &wallet).await, "5.00");
        // Read again: still once.
        assert_eq!(
            get_auth(&base, &path, &ann.token).await.json["status"],
            "succeeded"
        );
        assert_eq!(balance(&base, &ann, &wallet).await, "5.00");
        eprintln!(
            "{backend:?}: top-up settled {:?} after the SIGKILL",
            killed_at.elapsed()
        );
        drop(server);
        assert_money_conserved(&db, 500).await;
    }
}
