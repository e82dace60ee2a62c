//! Two `purse serve` processes (the real binary) on one PostgreSQL database (DESIGN.md
//! invariants 2 and 5, "correctness must not depend on there being only one server process"):
//!
//! - mixed load split across both, from a few thinly funded wallets so that both processes race
//!   to overdraft the same wallet, a fifth of the requests sent to both processes at once under
//!   one key: no wallet goes negative, money is conserved, every key moved money at most once and
//!   all its deciding answers agree, the ledger verifies;
//! - the same key and request sent at the same instant to both processes, round after round,
//!   including the round where the wallet holds exactly the amount: applied exactly once, and
//!   both answers are the same answer.
//!
//! Skipped with a printed reason when PostgreSQL is unreachable (required when `CI=true`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::concurrency::{Rng, seed, usd_text};
use crate::crash::{
    Fate, Op, SERVE_ENV, Tally, assert_fates, assert_money_conserved, fate_of, random_op,
    send_until_decided, setup, stored,
};
use crate::transfers::{Member, Sent};
use crate::util::{Backend, ServeProcess, TestDb, free_port};

const WALLETS: usize = 6;
const FUND_MINOR: i64 = 5_000;
/// Up to 20.00 from wallets of 50.00: overdraft attempts all the time.
const AMOUNT_MINOR_MAX: u64 = 2_000;
const WORKERS: usize = 12;
/// Transfer requests of the mixed load.
const OPS: usize = 1_200;
/// Rounds of the same key at the same instant on both processes.
const TWIN_ROUNDS: usize = 60;
/// Attempts of one request (after 409/429/5xx) before the test gives up on it (and fails).
const ATTEMPTS_MAX: usize = 100;

/// Two servers on one fresh PostgreSQL database; `None` when PostgreSQL is unreachable.
async fn two_servers(test: &str) -> Option<(TestDb, ServeProcess, ServeProcess)> {
    let db = TestDb::new(Backend::Postgres, test)?;
    let a = ServeProcess::start(&db, free_port(), &SERVE_ENV).await;
    let b = ServeProcess::start(&db, free_port(), &SERVE_ENV).await;
    Some((db, a, b))
}

/// Sends `op` to both processes at the same instant and returns both deciding answers.
async fn to_both(
    client: &awc::Client,
    bases: [&str; 2],
    who: &Member,
    op: &Op,
    tally: &RefCell<Tally>,
) -> [Sent; 2] {
    let (a, b) = tokio::join!(
        send_until_decided(client, bases[0], who, op, ATTEMPTS_MAX, tally),
        send_until_decided(client, bases[1], who, op, ATTEMPTS_MAX, tally),
    );
    [
        a.unwrap_or_else(|| panic!("{} never answered by A", op.key)),
        b.unwrap_or_else(|| panic!("{} never answered by B", op.key)),
    ]
}

/// Both answers to one key are the same answer (status and body), and only a 201 or a 402.
fn assert_agree(op: &Op, answers: &[Sent]) {
    let first = &answers[0].reply;
    for other in answers {
        assert!(
            other.reply.status == 201 || other.reply.json["code"] == "insufficient_funds",
            "{}: answered {} {}",
            op.key,
            other.reply.status,
            other.reply.text
        );
        assert_eq!(
            (other.reply.status, &other.reply.text),
            (first.status, &first.text),
            "{}: the two processes answered differently",
            op.key
        );
    }
}

/// Regression: before keys were claimed in the database, one key sent to both processes while
/// other transfers drained the wallet was answered `201` by one and `402 insufficient_funds` by
/// the other (the 402 decided before the 201's debit committed); this run failed on it every time
/// it was tried (e.g. PURSE_TEST_SEED=1796222096105107025).
#[actix_rt::test]
async fn two_processes_racing_to_overdraft_never_answer_one_key_201_and_402() {
    let Some((db, a, b)) = two_servers("two_processes_race_to_overdraft").await else {
        return;
    };
    let bases = [a.base.as_str(), b.base.as_str()];
    let seed = seed();
    eprintln!("two processes: PURSE_TEST_SEED={seed}");
    let rng = RefCell::new(Rng(seed));
    let (members, wallets) = setup(bases[0], WALLETS, FUND_MINOR).await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let tally = RefCell::new(Tally::default());
    let answers: RefCell<Vec<(Op, Vec<Sent>)>> = RefCell::new(Vec::new());
    let next = RefCell::new(0usize);
    let started = Instant::now();
    let worker = |index: usize| {
        let (client, members, wallets, rng) = (&client, &members, &wallets, &rng);
        let (tally, answers, next) = (&tally, &answers, &next);
        async move {
            loop {
                let n = {
                    let mut next = next.borrow_mut();
                    *next += 1;
                    *next
                };
                if n > OPS {
                    break;
                }
                let (op, twin, side) = {
                    let mut rng = rng.borrow_mut();
                    let op = random_op(&mut rng, wallets, AMOUNT_MINOR_MAX, &format!("w{index}"));
                    (op, rng.below(5) == 0, rng.below(2))
                };
                let who = &members[op.from];
                let sent: Vec<Sent> = if twin {
                    to_both(client, bases, who, &op, tally).await.into()
                } else {
                    let sent =
                        send_until_decided(client, bases[side], who, &op, ATTEMPTS_MAX, tally)
                            .await
                            .unwrap_or_else(|| panic!("{} never answered", op.key));
                    vec![sent]
                };
                answers.borrow_mut().push((op, sent));
            }
        }
    };
    join_all((0..WORKERS).map(worker)).await;
    let elapsed = started.elapsed();

    let answers = answers.take();
    let mut fates: Vec<(Op, Fate)> = Vec::with_capacity(answers.len());
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    let mut twins = 0;
    for (op, sent) in &answers {
        assert_agree(op, sent);
        twins += usize::from(sent.len() == 2);
        for s in sent {
            *by_status.entry(s.reply.status).or_default() += 1;
        }
        fates.push((op.clone(), fate_of(&sent[0])));
    }
    let applied = assert_fates(&members, &fates, &stored(&db).await);
    drop((a, b));
    assert_money_conserved(&db, FUND_MINOR * WALLETS as i64).await;
    let t = tally.borrow();
    eprintln!(
        "two processes: {OPS} transfer requests ({twins} sent to both at once) over {WORKERS} \
         workers in {elapsed:?}; {} HTTP requests; answers by status {by_status:?}; {} \
         undecided answers retried {:?}; {applied} applied, each once; no overdraft; money \
         conserved; ledger verified",
        t.sent,
        t.error_count(),
        t.errors,
    );
    assert!(
        by_status.get(&402).copied().unwrap_or(0) > 0,
        "no overdraft was attempted: the test did not race anything"
    );
}

#[actix_rt::test]
async fn same_key_on_two_processes_at_once_applies_once_and_answers_alike() {
    let Some((db, a, b)) = two_servers("same_key_on_two_processes").await else {
        return;
    };
    let bases = [a.base.as_str(), b.base.as_str()];
    // A payer with exactly enough for every round, so the last round spends the last cent and
    // the losing process finds the wallet empty.
    let amount_minor: i64 = 150;
    let (members, wallets) = setup(bases[0], 2, amount_minor * TWIN_ROUNDS as i64).await;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let tally = RefCell::new(Tally::default());
    let mut fates = Vec::with_capacity(TWIN_ROUNDS);
    for round in 0..TWIN_ROUNDS {
        let body = json!({
            "from_wallet": wallets[0],
            "to": wallets[1],
            "amount": usd_text(amount_minor),
            "currency": "USD",
        });
        let op = Op {
            from: 0,
            path: "/v1/transfers",
            key: format!("twin-{round}-{}", crate::transfers::new_key()),
            body: serde_json::to_vec(&body).expect("json"),
        };
        let sent = to_both(&client, bases, &members[0], &op, &tally).await;
        assert_agree(&op, &sent);
        assert_eq!(
            sent[0].reply.status, 201,
            "round {round}: {}",
            sent[0].reply.text
        );
        fates.push((op, fate_of(&sent[0])));
    }
    assert_eq!(
        assert_fates(&members, &fates, &stored(&db).await),
        TWIN_ROUNDS
    );
    drop((a, b));
    assert_money_conserved(&db, amount_minor * TWIN_ROUNDS as i64 * 2).await;
    let t = tally.borrow();
    eprintln!(
        "same key on two processes: {TWIN_ROUNDS} rounds, {} HTTP requests, {} undecided \
         answers retried {:?}; each key applied once, both answers identical",
        t.sent,
        t.error_count(),
        t.errors
    );
}
