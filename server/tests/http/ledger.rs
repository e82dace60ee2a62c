//! The ledger on real SQLite and PostgreSQL: posting, idempotency, conservation under concurrent
//! load, overdraft refused under concurrency (also with two ledgers — two "processes" — on one
//! database), append-only triggers, and `purse ledger verify` catching altered transfers and
//! balances. Wallets are opened and transfers posted through the `Ledger` handle (the HTTP
//! transfer endpoints are tested in their own module); verification runs the real `purse` binary.

use std::collections::HashMap;

use futures_util::future::join_all;
use purse_server::config::Config;
use purse_server::db::{Backend as DbBackend, Db};
use purse_server::ledger::{
    AccountKind, Ledger, LedgerError, NewTransfer, SystemAccount, TransferKind, chain,
};
use purse_server::metrics::Metrics;
use purse_server::with_db;

use crate::util::{BACKENDS, TestDb};

fn start_ledger(db: &Db, config: &Config) -> Ledger {
    Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new())
}

fn p2p(reference: &str, from: &str, to: &str, amount_minor: i64) -> NewTransfer {
    NewTransfer {
        reference: reference.to_owned(),
        kind: TransferKind::P2p,
        debit_account: from.to_owned(),
        credit_account: to.to_owned(),
        currency: "USD".to_owned(),
        amount_minor,
        memo: None,
    }
}

/// Opens `n` USD wallets and funds each with `fund_minor`.
async fn funded_wallets(ledger: &Ledger, n: usize, fund_minor: i64) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let wallet = ledger
            .open_wallet(&format!("usr_owner{i}"), "USD")
            .await
            .expect("wallet opens");
        if fund_minor > 0 {
            ledger
                .fund(&wallet.id, fund_minor, None)
                .await
                .expect("funding posts");
        }
        ids.push(wallet.id);
    }
    ids
}

/// Sum of wallet balances and the lowest wallet balance, read from the database.
async fn wallet_totals(ledger: &Ledger, ids: &[String]) -> (i64, i64) {
    let mut sum = 0;
    let mut min = i64::MAX;
    for id in ids {
        let account = ledger.account(id).await.expect("read").expect("exists");
        sum += account.balance_minor;
        min = min.min(account.balance_minor);
    }
    (sum, min)
}

async fn exec(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    with_db!(db, pool => sqlx::raw_sql(sql).execute(pool).await.map(|r| r.rows_affected()))
}

fn assert_verify_ok(db: &TestDb, transfers: i64) {
    let out = db.purse(&["ledger", "verify"]);
    assert_eq!(out.status, 0, "verify failed: {}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("ledger ok: {transfers} transfers")),
        "{}",
        out.stdout
    );
}

#[actix_rt::test]
async fn transfers_post_replay_and_paginate() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "transfers_post_replay_and_paginate") else {
            continue;
        };
        let db = test_db.open().await;
        let ledger = start_ledger(&db, &test_db.config);
        let wallets = funded_wallets(&ledger, 2, 10_000).await;
        let (alice, bob) = (&wallets[0], &wallets[1]);

        // Opening again returns the same wallet.
        let again = ledger.open_wallet("usr_owner0", "USD").await.expect("open");
        assert_eq!(&again.id, alice);
        assert_eq!(again.kind, AccountKind::Wallet);

        let posted = ledger
            .transfer(NewTransfer {
                memo: Some("lunch".to_owned()),
                ..p2p("ref-1", alice, bob, 1_250)
            })
            .await
            .expect("transfer posts");
        assert!(posted.transfer.id.starts_with("txn_"));
        assert_eq!(posted.debit_balance_minor, 8_750);
        assert_eq!(posted.credit_balance_minor, 11_250);
        assert_eq!(posted.transfer.seq, 3, "two fundings came first");
        assert_eq!(posted.transfer.memo.as_deref(), Some("lunch"));

        // The same transfer again is a replay: same id, money moved once.
        let replay = ledger
            .transfer(NewTransfer {
                memo: Some("lunch".to_owned()),
                ..p2p("ref-1", alice, bob, 1_250)
            })
            .await
            .expect("replay answers");
        assert_eq!(replay.transfer.id, posted.transfer.id);
        assert_eq!(replay.debit_balance_minor, 8_750);
        // A different transfer under the used reference is refused.
        let reused = ledger.transfer(p2p("ref-1", alice, bob, 99)).await;
        match reused {
            Err(LedgerError::DuplicateReference(existing)) => {
                assert_eq!(existing.id, posted.transfer.id)
            }
            other => panic!("expected duplicate_reference, got {other:?}"),
        }

        // Refusals: overdraft, unknown account, bad amounts, same account, currency.
        let refused = ledger.transfer(p2p("ref-2", alice, bob, 8_751)).await;
        assert!(
            matches!(refused, Err(LedgerError::InsufficientFunds)),
            "{refused:?}"
        );
        let unknown = ledger
            .transfer(p2p("ref-3", alice, "wal_000000000000000000000000", 1))
            .await;
        assert_eq!(unknown.expect_err("unknown").code(), "account_not_found");
        for amount in [0, -5, 1_000_000_000_000_001] {
            let bad = ledger.transfer(p2p("ref-4", alice, bob, amount)).await;
            assert_eq!(bad.expect_err("bad amount").code(), "amount_invalid");
        }
        let same = ledger.transfer(p2p("ref-5", alice, alice, 1)).await;
        assert_eq!(same.expect_err("same").code(), "same_account");
        let eur = ledger
            .open_wallet("usr_owner0", "EUR")
            .await
            .expect("eur wallet");
        let mismatch = ledger.transfer(p2p("ref-6", alice, &eur.id, 1)).await;
        assert_eq!(mismatch.expect_err("currency").code(), "currency_mismatch");
        let long_memo = ledger
            .transfer(NewTransfer {
                memo: Some("x".repeat(281)),
                ..p2p("ref-7", alice, bob, 1)
            })
            .await;
        assert_eq!(long_memo.expect_err("memo").code(), "memo_too_long");

        // History: newest first, cursor pagination, both sides of the transfer.
        for i in 0..4 {
            ledger
                .transfer(p2p(&format!("page-{i}"), bob, alice, 100 + i))
                .await
                .expect("posts");
        }
        let (first, more) = ledger
            .history(alice, 3, None)
            .await
            .expect("read")
            .expect("page");
        assert!(more);
        assert_eq!(
            first.iter().map(|t| t.amount_minor).collect::<Vec<_>>(),
            vec![103, 102, 101]
        );
        let cursor = first.last().expect("three").id.clone();
        let (second, more) = ledger
            .history(alice, 3, Some(&cursor))
            .await
            .expect("read")
            .expect("page");
        assert!(!more);
        assert_eq!(
            second.iter().map(|t| t.amount_minor).collect::<Vec<_>>(),
            vec![100, 1_250, 10_000]
        );
        // A cursor from someone else's history names nothing here.
        let foreign = ledger
            .history(&eur.id, 3, Some(&cursor))
            .await
            .expect("read");
        assert!(foreign.is_none());

        let issuance = ledger
            .account(&SystemAccount::Issuance.id("USD"))
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(issuance.balance_minor, -20_000);
        assert_eq!(issuance.kind, AccountKind::System);

        ledger.shutdown().await;
        db.close().await;
        assert_verify_ok(&test_db, 7);
    }
}

#[actix_rt::test]
async fn transfers_are_append_only_and_wallets_never_negative_in_schema() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "transfers_are_append_only") else {
            continue;
        };
        let db = test_db.open().await;
        let ledger = start_ledger(&db, &test_db.config);
        let wallets = funded_wallets(&ledger, 1, 500).await;
        ledger.shutdown().await;

        for sql in [
            "UPDATE transfers SET amount_minor = 1",
            "DELETE FROM transfers",
            "UPDATE accounts SET currency = 'EUR'",
            "DELETE FROM accounts",
        ] {
            let err = exec(&db, sql).await.expect_err(sql);
            assert!(
                err.to_string().contains("append-only")
                    || err.to_string().contains("only balance_minor")
                    || err.to_string().contains("never deleted"),
                "{backend:?} {sql}: {err}"
            );
        }
        if db.backend() == DbBackend::Postgres {
            let err = exec(&db, "TRUNCATE transfers CASCADE")
                .await
                .expect_err("truncate");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        // The schema itself refuses a negative wallet balance, whatever the code does.
        let sql = format!(
            "UPDATE accounts SET balance_minor = -1 WHERE id = '{}'",
            wallets[0]
        );
        let err = exec(&db, &sql).await.expect_err("negative wallet");
        assert!(
            err.to_string().to_lowercase().contains("check"),
            "{backend:?}: {err}"
        );
        db.close().await;
        assert_verify_ok(&test_db, 1);
    }
}

#[actix_rt::test]
async fn verify_names_the_first_altered_row() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "verify_names_the_first_altered_row") else {
            continue;
        };
        let db = test_db.open().await;
        let ledger = start_ledger(&db, &test_db.config);
        let wallets = funded_wallets(&ledger, 2, 1_000).await;
        for i in 0..3 {
            ledger
                .transfer(p2p(&format!("t{i}"), &wallets[0], &wallets[1], 10))
                .await
                .expect("posts");
        }
        ledger.shutdown().await;
        assert_verify_ok(&test_db, 5);
        let seq3_id: String = with_db!(&db, pool => sqlx::query_scalar("SELECT id FROM transfers WHERE seq = 3").fetch_one(pool).await).expect("row");

        // Someone with database access bypasses the trigger and edits an amount.
        let (disable, enable) = match db.backend() {
            DbBackend::Sqlite => (
                "DROP TRIGGER transfers_no_update",
                "CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END",
            ),
            DbBackend::Postgres => (
                "ALTER TABLE transfers DISABLE TRIGGER transfers_no_update_delete",
                "ALTER TABLE transfers ENABLE TRIGGER transfers_no_update_delete",
            ),
        };
        exec(&db, disable).await.expect("disable trigger");
        exec(&db, "UPDATE transfers SET amount_minor = 5 WHERE seq = 3")
            .await
            .expect("tamper");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains(&format!("transfer seq 3 ({seq3_id})"))
                && out.stdout.contains("hash does not match"),
            "{}",
            out.stdout
        );

        // A smarter forger also recomputes that row's hash: the next row no longer chains.
        let row: (Vec<u8>, String, String, String, String, String, String, i64) = with_db!(&db, pool => sqlx::query_as(
            "SELECT prev_hash, id, reference, kind, debit_account, credit_account, currency, created_at_ms FROM transfers WHERE seq = 3",
        ).fetch_one(pool).await).expect("row");
        let prev: [u8; 32] = row.0.clone().try_into().expect("32 bytes");
        let forged = chain::chain_hash(
            &prev,
            &chain::ChainFields {
                seq: 3,
                id: &row.1,
                reference: &row.2,
                kind: &row.3,
                debit_account: &row.4,
                credit_account: &row.5,
                currency: &row.6,
                amount_minor: 5,
                memo: None,
                created_at_ms: row.7,
            },
        );
        let sql = format!(
            "UPDATE transfers SET hash = {} WHERE seq = 3",
            match db.backend() {
                DbBackend::Sqlite => format!("X'{}'", chain::hex(&forged)),
                DbBackend::Postgres => format!("'\\x{}'::bytea", chain::hex(&forged)),
            }
        );
        exec(&db, &sql).await.expect("forge hash");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains("transfer seq 4 (")
                && out.stdout.contains("prev_hash does not chain to seq 3"),
            "{}",
            out.stdout
        );

        // Put the amount and hash back: clean again.
        let original = chain::chain_hash(
            &prev,
            &chain::ChainFields {
                seq: 3,
                id: &row.1,
                reference: &row.2,
                kind: &row.3,
                debit_account: &row.4,
                credit_account: &row.5,
                currency: &row.6,
                amount_minor: 10,
                memo: None,
                created_at_ms: row.7,
            },
        );
        let sql = format!(
            "UPDATE transfers SET amount_minor = 10, hash = {} WHERE seq = 3",
            match db.backend() {
                DbBackend::Sqlite => format!("X'{}'", chain::hex(&original)),
                DbBackend::Postgres => format!("'\\x{}'::bytea", chain::hex(&original)),
            }
        );
        exec(&db, &sql).await.expect("restore");
        assert_verify_ok(&test_db, 5);

        // A balance changed behind the ledger's back is named.
        let sql = format!(
            "UPDATE accounts SET balance_minor = balance_minor + 7 WHERE id = '{}'",
            wallets[1]
        );
        exec(&db, &sql).await.expect("tamper balance");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains(&format!("account {}", wallets[1]))
                && out.stdout.contains("stored balance 1037"),
            "{}",
            out.stdout
        );
        let sql = format!(
            "UPDATE accounts SET balance_minor = balance_minor - 7 WHERE id = '{}'",
            wallets[1]
        );
        exec(&db, &sql).await.expect("restore balance");

        // A link of an account's list altered behind the ledger's back (it would hide seq 3
        // from the history of wallets[1]) is named, and so is an account's last transfer.
        exec(
            &db,
            "UPDATE transfers SET credit_prev_seq = 2 WHERE seq = 4",
        )
        .await
        .expect("tamper link");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains(&format!(
                "transfer seq 4 ({}): credit_prev_seq is 2, the previous transfer of {} is seq 3",
                with_db!(&db, pool => sqlx::query_scalar::<_, String>("SELECT id FROM transfers WHERE seq = 4").fetch_one(pool).await).expect("row"),
                wallets[1]
            )),
            "{}",
            out.stdout
        );
        exec(
            &db,
            "UPDATE transfers SET credit_prev_seq = 3 WHERE seq = 4",
        )
        .await
        .expect("restore link");
        let sql = format!(
            "UPDATE accounts SET last_transfer_seq = 4 WHERE id = '{}'",
            wallets[1]
        );
        exec(&db, &sql).await.expect("tamper last transfer");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains(&format!(
                "account {}: stored last transfer seq 4, its last transfer is seq 5",
                wallets[1]
            )),
            "{}",
            out.stdout
        );
        let sql = format!(
            "UPDATE accounts SET last_transfer_seq = 5 WHERE id = '{}'",
            wallets[1]
        );
        exec(&db, &sql).await.expect("restore last transfer");
        assert_verify_ok(&test_db, 5);

        // Deleting the newest transfer leaves the head pointing past the chain.
        let delete_trigger = match db.backend() {
            DbBackend::Sqlite => "DROP TRIGGER transfers_no_delete",
            DbBackend::Postgres => "SELECT 1",
        };
        exec(&db, delete_trigger)
            .await
            .expect("disable delete trigger");
        exec(&db, "DELETE FROM transfers WHERE seq = 5")
            .await
            .expect("delete");
        let out = test_db.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 1, "{}", out.stdout);
        assert!(
            out.stdout.contains("chain head: stored head is seq 5"),
            "{}",
            out.stdout
        );
        exec(&db, enable).await.expect("re-enable trigger");
        db.close().await;
    }
}

#[actix_rt::test]
async fn concurrent_transfers_conserve_money_and_never_overdraw() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "concurrent_transfers_conserve_money") else {
            continue;
        };
        let db = test_db.open().await;
        // Room for every request at once: this test is about money, not back-pressure.
        let mut config = test_db.config.clone();
        config.wallets.mailbox_max = 2_000;
        config.wallets.pending_max = 2_000;
        let ledger = start_ledger(&db, &config);
        const WALLETS: usize = 20;
        const FUND: i64 = 1_000;
        let wallets = funded_wallets(&ledger, WALLETS, FUND).await;

        // A deterministic pseudo-random mix; amounts large enough that many debits must fail.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let transfers: Vec<NewTransfer> = (0..2_000)
            .map(|i| {
                let from = (next() % WALLETS as u64) as usize;
                let to = (from + 1 + (next() % (WALLETS as u64 - 1)) as usize) % WALLETS;
                // Every fifth reference repeats an earlier one: replays and conflicts.
                let reference = if i % 5 == 4 {
                    format!("c{}", i - 4)
                } else {
                    format!("c{i}")
                };
                p2p(
                    &reference,
                    &wallets[from],
                    &wallets[to],
                    1 + (next() % 150) as i64,
                )
            })
            .collect();
        // Waves of 250 concurrent transfers, so received money is spent again in later waves.
        let mut results = Vec::with_capacity(transfers.len());
        for wave in transfers.chunks(250) {
            results.extend(
                join_all(wave.iter().cloned().map(|t| {
                    let ledger = ledger.clone();
                    async move { ledger.transfer(t).await }
                }))
                .await,
            );
        }

        let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
        let mut committed_ids = std::collections::HashSet::new();
        for result in &results {
            match result {
                Ok(posted) => {
                    committed_ids.insert(posted.transfer.id.clone());
                    *outcomes.entry("ok").or_default() += 1;
                }
                Err(err) => *outcomes.entry(err.code()).or_default() += 1,
            }
        }
        // Only these refusals are legitimate under this load.
        for code in outcomes.keys() {
            assert!(
                ["ok", "insufficient_funds", "duplicate_reference"].contains(code),
                "{backend:?}: unexpected outcome {code}: {outcomes:?}"
            );
        }
        assert!(outcomes["ok"] > 500, "{outcomes:?}");
        assert!(
            outcomes.get("insufficient_funds").copied().unwrap_or(0) > 0,
            "{outcomes:?}"
        );

        // Each reference applied at most once.
        let (rows, distinct): (i64, i64) = with_db!(&db, pool => sqlx::query_as(
            "SELECT count(*), count(DISTINCT reference) FROM transfers WHERE kind = 'p2p'",
        ).fetch_one(pool).await)
        .expect("count");
        assert_eq!(rows, distinct);
        assert_eq!(rows as usize, committed_ids.len());

        let (sum, min) = wallet_totals(&ledger, &wallets).await;
        assert_eq!(sum, FUND * WALLETS as i64, "money is conserved");
        assert!(min >= 0, "no wallet below zero: {min}");
        ledger.shutdown().await;
        db.close().await;
        assert_verify_ok(&test_db, WALLETS as i64 + rows);
    }
}

#[actix_rt::test]
async fn overdraft_refused_under_concurrency_also_across_two_processes() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "overdraft_refused_under_concurrency") else {
            continue;
        };
        let db = test_db.open().await;
        // Two ledgers on one database: two processes' worth of writers, registries and caches.
        let first = start_ledger(&db, &test_db.config);
        let second_db = test_db.open().await;
        let second = start_ledger(&second_db, &test_db.config);
        let wallets = funded_wallets(&first, 3, 0).await;
        let (payer, payee) = (&wallets[0], &wallets[1]);
        first.fund(payer, 100, None).await.expect("fund");

        // 60 debits of 10 against a balance of 100, split over both processes.
        let attempts = (0..60).map(|i| {
            let ledger = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let transfer = p2p(&format!("o{i}"), payer, payee, 10);
            async move { ledger.transfer(transfer).await }
        });
        let results = join_all(attempts).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        for result in &results {
            if let Err(err) = result {
                assert!(
                    matches!(
                        err,
                        LedgerError::InsufficientFunds | LedgerError::WalletBusy
                    ),
                    "{backend:?}: {err:?}"
                );
            }
        }
        assert_eq!(ok, 10, "{backend:?}: exactly the balance was spent");
        let payer_now = first.account(payer).await.expect("read").expect("exists");
        assert_eq!(payer_now.balance_minor, 0);

        // Stale caches: each process's actor believes something; the database decides.
        second
            .fund(payer, 30, None)
            .await
            .expect("fund via the other process");
        let spent = first.transfer(p2p("after-credit", payer, payee, 30)).await;
        assert!(
            spent.is_ok(),
            "a stale-low cache re-reads before refusing: {spent:?}"
        );
        let again = second.transfer(p2p("stale-high", payer, payee, 30)).await;
        assert!(
            matches!(again, Err(LedgerError::InsufficientFunds)),
            "the schema refuses what a stale-high cache allowed: {again:?}"
        );

        // A debit "up to" its amount (a chargeback) on a stale-high cache takes what the
        // wallet holds, not nothing: after its own funding `first` believes 25, `second` spends
        // 20 of it, then `first` takes up to 25.
        first.fund(payer, 25, None).await.expect("fund");
        second
            .transfer(p2p("spent-elsewhere", payer, payee, 20))
            .await
            .expect("the other process spends");
        let mut up_to = p2p("up-to", payer, payee, 25);
        up_to.kind = TransferKind::Chargeback;
        let taken = first
            .transfer_up_to(up_to)
            .await
            .expect("a stale-high up-to debit takes what there is");
        assert_eq!(taken.transfer.amount_minor, 5, "{backend:?}");
        assert_eq!(taken.debit_balance_minor, 0, "{backend:?}");

        first.shutdown().await;
        second.shutdown().await;
        second_db.close().await;
        db.close().await;
        assert_verify_ok(&test_db, 16);
    }
}

#[actix_rt::test]
async fn busy_wallets_answer_wallet_busy_and_idle_actors_stop() {
    let Some(test_db) = TestDb::new(crate::util::Backend::Sqlite, "busy_wallets") else {
        return;
    };
    let mut config = test_db.config.clone();
    config.wallets.pending_max = 1;
    config.wallets.mailbox_max = 2;
    config.wallets.idle_timeout_ms = 100;
    let db = test_db.open().await;
    let metrics = Metrics::new();
    let ledger = Ledger::start(db.clone(), &config.ledger, &config.wallets, metrics.clone());
    let wallets = funded_wallets(&ledger, 2, 1_000_000).await;

    let results = join_all((0..50).map(|i| {
        let ledger = ledger.clone();
        let transfer = p2p(&format!("b{i}"), &wallets[0], &wallets[1], 1);
        async move { ledger.transfer(transfer).await }
    }))
    .await;
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(LedgerError::WalletBusy)))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(busy + ok, 50, "{results:?}");
    assert!(busy > 0 && ok > 0, "busy {busy}, ok {ok}");
    assert!(
        metrics
            .render()
            .contains("purse_wallet_mailbox_rejections_total")
    );
    assert!(ledger.wallets().active() >= 1);
    assert!(metrics.wallet_actors_active() >= 1);

    // Idle passivation brings the actor count back to zero; the next debit restarts one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ledger.wallets().active() > 0 && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ledger.wallets().active(), 0, "idle actors passivate");
    actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(metrics.wallet_actors_active(), 0);
    let posted = ledger
        .transfer(p2p("after-idle", &wallets[0], &wallets[1], 1))
        .await
        .expect("a new actor loads the balance");
    assert_eq!(posted.debit_balance_minor, 1_000_000 - ok as i64 - 1);
    ledger.shutdown().await;
    db.close().await;
}

#[actix_rt::test]
async fn admin_fund_over_http_and_cli() {
    use crate::util::{TestServer, assert_problem, client, post_json, read};
    use serde_json::json;

    // Off by default: the route does not exist without an operator token.
    let Some(plain) = TestServer::start(crate::util::Backend::Sqlite, "admin_fund_off") else {
        return;
    };
    let off = post_json(
        &plain.url("/v1/admin/fund"),
        &json!({"wallet_id": "x", "amount": "1"}),
    )
    .await;
    assert_problem(&off, 404, "route_not_found");
    // Whatever the body: the route does not exist.
    let off = post_json(&plain.url("/v1/admin/fund"), &json!({})).await;
    assert_problem(&off, 404, "route_not_found");
    drop(plain);

    const TOKEN: &str = "operator-token-for-tests-0123456789abcdef";
    for backend in BACKENDS {
        let Some(server) = TestServer::start_with(backend, "admin_fund_over_http_and_cli", |c| {
            c.admin_token = Some(TOKEN.to_owned());
        }) else {
            continue;
        };
        // A wallet opened by a second ledger on the same database (as the wallets API will).
        let db = server.db().open().await;
        let ledger = start_ledger(&db, &server.db().config);
        let wallet = ledger
            .open_wallet("usr_admin_test", "USD")
            .await
            .expect("wallet");
        let fund = |token: &'static str, body: serde_json::Value| {
            let url = server.url("/v1/admin/fund");
            async move {
                read(
                    client()
                        .post(url)
                        .insert_header(("authorization", format!("Bearer {token}")))
                        .send_json(&body)
                        .await
                        .expect("sent"),
                )
                .await
            }
        };
        let body = json!({"wallet_id": wallet.id, "amount": "12.50", "reference": "seed-1"});
        let wrong = fund("not-the-token", body.clone()).await;
        assert_problem(&wrong, 401, "admin_token_invalid");
        // The token is checked before the body is read.
        let wrong = fund("not-the-token", json!({"nonsense": true})).await;
        assert_problem(&wrong, 401, "admin_token_invalid");

        let ok = fund(TOKEN, body.clone()).await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        assert_eq!(ok.json["amount"], "12.50");
        assert_eq!(ok.json["balance"], "12.50");
        assert_eq!(ok.json["currency"], "USD");
        let transfer_id = ok.json["transfer_id"].as_str().expect("id").to_owned();
        assert!(transfer_id.starts_with("txn_"));

        // Same reference again: a replay, credited once.
        let replay = fund(TOKEN, body).await;
        assert_eq!(replay.status, 200, "{}", replay.text);
        assert_eq!(replay.json["transfer_id"], transfer_id.as_str());
        assert_eq!(replay.json["balance"], "12.50");

        for (amount, code) in [
            ("1.005", "amount_invalid"),
            ("0", "amount_invalid"),
            ("-3", "amount_invalid"),
        ] {
            let bad = fund(TOKEN, json!({"wallet_id": wallet.id, "amount": amount})).await;
            assert_problem(&bad, 400, code);
        }
        let unknown = fund(
            TOKEN,
            json!({"wallet_id": "wal_000000000000000000000000", "amount": "1"}),
        )
        .await;
        assert_problem(&unknown, 404, "not_found");
        let malformed = fund(TOKEN, json!({"wallet": wallet.id})).await;
        assert_problem(&malformed, 400, "body_invalid");

        // The CLI funds the same database directly, beside the running server.
        let out = server.purse(&["admin", "fund", &wallet.id, "7.50"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
        let printed: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
        assert_eq!(printed["balance"], "20.00");
        let out = server.purse(&["admin", "fund", &wallet.id, "1.001"]);
        assert_ne!(out.status, 0);
        assert!(out.stderr.contains("amount_invalid"), "{}", out.stderr);
        let out = server.purse(&["admin", "fund", "wal_000000000000000000000000", "1"]);
        assert_ne!(out.status, 0);
        assert!(out.stderr.contains("account_not_found"), "{}", out.stderr);

        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("ledger ok: 2 transfers"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("USD: 2000 minor units in wallets"),
            "{}",
            out.stdout
        );
        ledger.shutdown().await;
        db.close().await;
    }
}

/// A transfer whose idempotency record finds its key answered already (another process's answer
/// recorded between the request's look-up and its batch) moves nothing: the ledger refuses it
/// with `AnsweredElsewhere` and leaves that answer standing, while the transfers batched with it
/// commit with their records.
#[actix_rt::test]
async fn a_transfer_whose_key_was_answered_first_moves_nothing() {
    use actix_web::http::StatusCode;
    use purse_server::idempotency::{Fingerprint, RecordDraft, store};
    use purse_server::ledger::{Outbox, RecordOutbox};
    const TRANSFERS: usize = 24;
    const ANSWERED: usize = 7;
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "key_answered_first") else {
            continue;
        };
        let db = test_db.open().await;
        let ledger = start_ledger(&db, &test_db.config);
        let wallets = funded_wallets(&ledger, 4, 100_000).await;
        let owner = "usr_payer";
        let fingerprint = Fingerprint::of("POST", "/v1/transfers", &"body");
        let first = RecordDraft::new(owner, &format!("key-{ANSWERED}"), fingerprint).done(
            StatusCode::PAYMENT_REQUIRED,
            b"{\"code\":\"insufficient_funds\"}".to_vec(),
            purse_server::ledger::now_ms(),
        );
        assert_eq!(store::insert_done(&db, &[first]).await.unwrap(), [true]);

        let outbox = |i: usize| Outbox {
            announce: Vec::new(),
            charge: None,
            nonce: None,
            record: Some(RecordOutbox {
                draft: RecordDraft::new(owner, &format!("key-{i}"), fingerprint),
                render: Box::new(|_| Ok((StatusCode::CREATED, b"{}".to_vec()))),
            }),
        };
        let results = join_all((0..TRANSFERS).map(|i| {
            let request = p2p(
                &format!("ref-{i}"),
                &wallets[i % 2],
                &wallets[2 + i % 2],
                100,
            );
            ledger.transfer_with(request, outbox(i))
        }))
        .await;
        for (i, result) in results.iter().enumerate() {
            if i == ANSWERED {
                assert!(
                    matches!(result, Err(LedgerError::AnsweredElsewhere)),
                    "{backend:?}: {result:?}"
                );
            } else {
                let posted = result.as_ref().expect("the others commit");
                assert_eq!(posted.record_written, Some(true), "{backend:?}");
            }
        }
        assert!(
            ledger
                .transfer_by_reference(&format!("ref-{ANSWERED}"))
                .await
                .unwrap()
                .is_none(),
            "{backend:?}: no transfer under the answered key"
        );
        let standing = store::find(&db, owner, &format!("key-{ANSWERED}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(standing.response_status, Some(402), "{backend:?}");
        let written = store::find(&db, owner, "key-0").await.unwrap().unwrap();
        assert_eq!(written.response_status, Some(201), "{backend:?}");
        let (sum, _) = wallet_totals(&ledger, &wallets).await;
        assert_eq!(sum, 400_000, "{backend:?}: money conserved");
        let payers: i64 = wallet_totals(&ledger, &wallets[..2]).await.0;
        assert_eq!(
            payers,
            200_000 - 100 * (TRANSFERS as i64 - 1),
            "{backend:?}: every transfer but one moved"
        );
        ledger.shutdown().await;
        assert_verify_ok(&test_db, 4 + TRANSFERS as i64 - 1);
        db.close().await;
    }
}

/// Migration 0010 replaces the two account-history indexes by the accounts' lists: a ledger
/// written before it gets every link and every account's last transfer, and `purse ledger verify`
/// (which recomputes the lists from the chain) is clean on it.
#[actix_rt::test]
async fn migration_0010_links_the_transfers_written_before_it() {
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "migration_0010_links_earlier_transfers") else {
            continue;
        };
        let db = Db::connect(&test_db.config).await.expect("connect");
        // The schema as of migration 0009.
        let scratch = tempfile::tempdir().expect("tempdir");
        let applied = db
            .migrate_before("0010", scratch.path())
            .await
            .expect("migrations 1-9");
        assert_eq!(applied, 9);

        let issuance = "sys_issuance_usd";
        for (id, kind, owner) in [
            (issuance, "system", None),
            ("wal_a", "wallet", Some("usr_a")),
            ("wal_b", "wallet", Some("usr_b")),
            ("wal_c", "wallet", Some("usr_c")),
            ("wal_idle", "wallet", Some("usr_d")),
        ] {
            with_db!(&db, pool => sqlx::query(
                "INSERT INTO accounts (id, kind, owner_id, currency, balance_minor, created_at_ms) \
                 VALUES ($1, $2, $3, 'USD', 0, 1)",
            )
            .bind(id)
            .bind(kind)
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("account");
        }
        let transfers = [
            (issuance, "wal_a", 100),
            (issuance, "wal_b", 100),
            ("wal_a", "wal_b", 30),
            ("wal_b", "wal_c", 10),
        ];
        let mut prev = [0u8; 32];
        for (i, (from, to, amount)) in transfers.into_iter().enumerate() {
            let seq = i as i64 + 1;
            let (id, reference) = (format!("txn_{seq}"), format!("ref-{seq}"));
            let hash = chain::chain_hash(
                &prev,
                &chain::ChainFields {
                    seq,
                    id: &id,
                    reference: &reference,
                    kind: "p2p",
                    debit_account: from,
                    credit_account: to,
                    currency: "USD",
                    amount_minor: amount,
                    memo: None,
                    created_at_ms: 1_000 + seq,
                },
            );
            with_db!(&db, pool => sqlx::query(
                "INSERT INTO transfers (seq, id, reference, kind, debit_account, credit_account, \
                 currency, amount_minor, memo, created_at_ms, prev_hash, hash) \
                 VALUES ($1, $2, $3, 'p2p', $4, $5, 'USD', $6, NULL, $7, $8, $9)",
            )
            .bind(seq)
            .bind(&id)
            .bind(&reference)
            .bind(from)
            .bind(to)
            .bind(amount)
            .bind(1_000 + seq)
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("transfer");
            for (account, delta) in [(from, -amount), (to, amount)] {
                with_db!(&db, pool => sqlx::query(
                    "UPDATE accounts SET balance_minor = balance_minor + $1 WHERE id = $2",
                )
                .bind(delta)
                .bind(account)
                .execute(pool)
                .await
                .map(|_| ()))
                .expect("balance");
            }
            with_db!(&db, pool => sqlx::query("UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(seq)
                .bind(hash.to_vec())
                .execute(pool)
                .await
                .map(|_| ()))
            .expect("head");
            prev = hash;
        }

        db.migrate().await.expect("migration 0010");
        let links: Vec<(i64, i64, i64)> = with_db!(&db, pool => sqlx::query_as(
            "SELECT seq, debit_prev_seq, credit_prev_seq FROM transfers ORDER BY seq",
        )
        .fetch_all(pool)
        .await)
        .expect("links");
        assert_eq!(links, vec![(1, 0, 0), (2, 1, 0), (3, 1, 2), (4, 3, 0)]);
        let last: Vec<(String, i64)> = with_db!(&db, pool => sqlx::query_as(
            "SELECT id, last_transfer_seq FROM accounts ORDER BY id",
        )
        .fetch_all(pool)
        .await)
        .expect("last transfers");
        let expected: Vec<(String, i64)> = [
            (issuance, 2),
            ("wal_a", 3),
            ("wal_b", 4),
            ("wal_c", 4),
            ("wal_idle", 0),
        ]
        .into_iter()
        .map(|(id, seq)| (id.to_owned(), seq))
        .collect();
        let mut last = last;
        last.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(last, expected);
        assert_verify_ok(&test_db, 4);

        // History and new transfers go on from the migrated lists.
        let ledger = start_ledger(&db, &test_db.config);
        ledger
            .transfer(p2p("after-0010", "wal_c", "wal_a", 5))
            .await
            .expect("posts");
        let (page, more) = ledger
            .history("wal_b", 10, None)
            .await
            .expect("read")
            .expect("page");
        assert!(!more);
        assert_eq!(
            page.iter().map(|t| t.seq).collect::<Vec<_>>(),
            vec![4, 3, 2]
        );
        let (page, _) = ledger
            .history("wal_a", 1, Some("txn_3"))
            .await
            .expect("read")
            .expect("page");
        assert_eq!(page.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![1]);
        ledger.shutdown().await;
        assert_verify_ok(&test_db, 5);
        db.close().await;
    }
}
