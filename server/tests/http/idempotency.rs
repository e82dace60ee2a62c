//! `Idempotency-Key` over real HTTP on SQLite and PostgreSQL: replay of the first answer (status,
//! body, `Idempotent-Replayed`), 422 for another body, 409 while the first runs, keys scoped per
//! user, recorded refusals, unrecorded validation errors, a record lost in a crash answered from
//! the ledger, and one key sent to two server processes at once: money moves once in every case.

use futures_util::future::join_all;
use purse_server::db::Db;
use purse_server::with_db;
use serde_json::{Value, json};

use crate::transfers::{
    Member, Sent, balance, fund, member, new_key, open_wallet, send, send_via, start, usd,
};
use crate::util::{BACKENDS, TestDb, TestServer, assert_problem};

fn replayed(sent: &Sent) -> bool {
    sent.replayed
}

/// A signed transfer whose body is sent as the exact `bytes` given (to vary layout).
async fn send_bytes(base: &str, who: &Member, key: &str, bytes: &[u8]) -> Sent {
    send_via(&crate::util::client(), base, who, Some(key), bytes).await
}

async fn count(db: &Db, sql: &str) -> i64 {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await).expect("query")
}

/// Deletes the idempotency record of `key`, as a crash before its commit would have lost it.
async fn forget(db: &Db, key: &str) -> u64 {
    with_db!(db, pool => sqlx::query("DELETE FROM idempotency_keys WHERE idem_key = $1")
        .bind(key)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    .expect("delete")
}

#[actix_rt::test]
async fn same_key_replays_the_first_answer_and_moves_money_once() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "same_key_replays") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_w = open_wallet(base, &ana, "USD").await;
        let bo_w = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_w, "100.00").await;

        let key = new_key();
        let body = usd(&ana_w, json!(bo_w), "10.00");
        let first = send(base, &ana, Some(&key), &body).await;
        assert_eq!(first.reply.status, 201, "{backend:?}: {}", first.reply.text);
        assert!(!replayed(&first));
        for _ in 0..3 {
            let again = send(base, &ana, Some(&key), &body).await;
            assert_eq!(again.reply.status, 201, "{}", again.reply.text);
            assert_eq!(again.reply.text, first.reply.text);
            assert!(replayed(&again));
        }
        // The same request in another JSON layout (field order, spaces) is the same request.
        let layout = format!(
            r#"{{ "currency" : "USD", "amount": "10.00", "to": "{bo_w}", "from_wallet": "{ana_w}" }}"#
        );
        let again = send_bytes(base, &ana, &key, layout.as_bytes()).await;
        assert_eq!(again.reply.status, 201, "{}", again.reply.text);
        assert_eq!(again.reply.text, first.reply.text);
        assert_eq!(balance(base, &ana, &ana_w).await, "90.00");
        assert_eq!(balance(base, &bo, &bo_w).await, "10.00");

        // The same key with any other body: 422, nothing moves.
        for other in [
            usd(&ana_w, json!(bo_w), "10.01"),
            usd(&ana_w, json!({"email": "bo@example.com"}), "10.00"),
            json!({"from_wallet": ana_w, "to": bo_w, "amount": "10.00", "currency": "USD", "memo": "x"}),
        ] {
            let reply = send(base, &ana, Some(&key), &other).await.reply;
            assert_problem(&reply, 422, "idempotency_key_reused");
        }
        assert_eq!(balance(base, &ana, &ana_w).await, "90.00");

        // Keys belong to their user: Bo may use the same text for his own transfer.
        let bos = send(base, &bo, Some(&key), &usd(&bo_w, json!(ana_w), "1.00")).await;
        assert_eq!(bos.reply.status, 201, "{}", bos.reply.text);
        assert!(!replayed(&bos));
        assert_ne!(bos.reply.json["id"], first.reply.json["id"]);
        assert_eq!(balance(base, &bo, &bo_w).await, "9.00");

        // A refusal about the request is recorded too: the same key keeps answering it, even
        // after the balance would allow it; a new key is a new operation.
        let poor_key = new_key();
        let big = usd(&bo_w, json!(ana_w), "50.00");
        let refused = send(base, &bo, Some(&poor_key), &big).await;
        assert_problem(&refused.reply, 402, "insufficient_funds");
        fund(base, &bo_w, "100.00").await;
        let again = send(base, &bo, Some(&poor_key), &big).await;
        assert_problem(&again.reply, 402, "insufficient_funds");
        assert_eq!(again.reply.text, refused.reply.text);
        assert!(replayed(&again));
        let fresh = send(base, &bo, Some(&new_key()), &big).await;
        assert_eq!(fresh.reply.status, 201, "{}", fresh.reply.text);

        // A malformed request (400) does not use the key up.
        let unused = new_key();
        let bad = send(
            base,
            &ana,
            Some(&unused),
            &usd(&ana_w, json!(bo_w), "1.005"),
        )
        .await;
        assert_problem(&bad.reply, 400, "amount_too_precise");
        let good = send(base, &ana, Some(&unused), &usd(&ana_w, json!(bo_w), "1.00")).await;
        assert_eq!(good.reply.status, 201, "{}", good.reply.text);
        assert!(!replayed(&good));
        assert_eq!(balance(base, &ana, &ana_w).await, "140.00");
    }
}

#[actix_rt::test]
async fn a_record_lost_in_a_crash_is_answered_from_the_ledger() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "record_lost_in_a_crash") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_w = open_wallet(base, &ana, "USD").await;
        let bo_w = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_w, "100.00").await;

        let key = new_key();
        let body = usd(&ana_w, json!(bo_w), "30.00");
        let first = send(base, &ana, Some(&key), &body).await;
        assert_eq!(first.reply.status, 201, "{}", first.reply.text);

        // As if the server died between the ledger's commit and the idempotency record's.
        let db = server.db().open().await;
        assert_eq!(forget(&db, &key).await, 1);

        let retry = send(base, &ana, Some(&key), &body).await;
        assert_eq!(retry.reply.status, 201, "{}", retry.reply.text);
        assert_eq!(retry.reply.json, first.reply.json, "the original transfer");
        assert_eq!(balance(base, &ana, &ana_w).await, "70.00");
        assert_eq!(balance(base, &bo, &bo_w).await, "30.00");
        // ... and it is recorded again.
        let replay = send(base, &ana, Some(&key), &body).await;
        assert!(replayed(&replay));
        assert_eq!(replay.reply.json, first.reply.json);
        // Another body under the lost key still cannot move money: the ledger's reference holds.
        assert_eq!(forget(&db, &key).await, 1);
        let other = send(base, &ana, Some(&key), &usd(&ana_w, json!(bo_w), "31.00")).await;
        assert_problem(&other.reply, 422, "idempotency_key_reused");
        assert_eq!(balance(base, &ana, &ana_w).await, "70.00");
        let p2p = count(&db, "SELECT count(*) FROM transfers WHERE kind = 'p2p'").await;
        assert_eq!(p2p, 1);
        db.close().await;
    }
}

/// A P2P transfer's answer is recorded in the ledger batch that moves its money
/// (`ledger::Outbox::record`): the record exists, `done` with the very bytes answered, as soon as
/// the answer arrives, on SQLite too (where a record written after its answer would still be
/// queued), and its time is the transfer's.
#[actix_rt::test]
async fn a_transfer_answer_is_recorded_with_its_money() {
    use purse_server::idempotency::store;
    for backend in BACKENDS {
        let Some(server) = start(backend, "answer_recorded_with_money") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_w = open_wallet(base, &ana, "USD").await;
        let bo_w = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_w, "100.00").await;
        let db = server.db().open().await;
        for round in 0..5 {
            let key = new_key();
            let first = send(base, &ana, Some(&key), &usd(&ana_w, json!(bo_w), "1.00")).await;
            assert_eq!(first.reply.status, 201, "{backend:?}: {}", first.reply.text);
            let record = store::find(&db, &ana.user_id, &key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{backend:?} round {round}: no record at the answer"));
            assert_eq!(record.state, "done");
            assert_eq!(record.response_status, Some(201));
            assert_eq!(
                record.response_body.as_deref(),
                Some(first.reply.text.as_bytes()),
                "{backend:?}: the record holds the bytes answered"
            );
            assert_eq!(
                record.updated_at_ms,
                first.reply.json["created_at_ms"].as_i64().unwrap(),
                "{backend:?}: recorded in the transfer's own transaction"
            );
            let again = send(base, &ana, Some(&key), &usd(&ana_w, json!(bo_w), "1.00")).await;
            assert!(replayed(&again));
            assert_eq!(again.reply.text, first.reply.text);
        }
        assert_eq!(balance(base, &ana, &ana_w).await, "95.00");
        db.close().await;
    }
}

/// Sends `body` under `key` `n` times at once to each server; returns every reply.
async fn burst(bases: &[&str], who: &Member, key: &str, body: &Value, n: usize) -> Vec<Sent> {
    let sends = bases
        .iter()
        .flat_map(|base| (0..n).map(move |_| send(base, who, Some(key), body)));
    join_all(sends).await
}

/// Every reply is the one transfer (fresh or replayed) or a 409; returns the 201 count.
fn one_transfer(replies: &[Sent]) -> usize {
    let created: Vec<&Sent> = replies.iter().filter(|r| r.reply.status == 201).collect();
    assert!(!created.is_empty(), "at least one request went through");
    for reply in &created {
        assert_eq!(reply.reply.json["id"], created[0].reply.json["id"]);
        assert_eq!(reply.reply.json, created[0].reply.json);
    }
    for reply in replies.iter().filter(|r| r.reply.status != 201) {
        assert_problem(&reply.reply, 409, "idempotency_key_in_use");
    }
    created.len()
}

#[actix_rt::test]
async fn concurrent_uses_of_one_key_move_money_once_even_across_two_processes() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "concurrent_uses_of_one_key") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_w = open_wallet(base, &ana, "USD").await;
        let bo_w = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_w, "100.00").await;

        // One process: the key is claimed by the first request; the others wait for nothing.
        let body = usd(&ana_w, json!(bo_w), "7.00");
        let replies = burst(&[base], &ana, &new_key(), &body, 24).await;
        let conflicts = replies.len() - one_transfer(&replies);
        eprintln!("{backend:?}: one process, 24 at once: {conflicts} answered 409");
        assert_eq!(balance(base, &ana, &ana_w).await, "93.00");

        // Two processes on one database.
        let mut db = TestDb::new(backend, "concurrent_uses_second").expect("reachable");
        db.config = server.db().config.clone();
        let second = TestServer::start_on(db, "concurrent_uses_second").expect("second server");
        for round in 0..5 {
            let body = usd(&ana_w, json!(bo_w), "1.00");
            let replies = burst(&[base, &second.base], &ana, &new_key(), &body, 6).await;
            one_transfer(&replies);
            let expected = format!("{}.00", 92 - round);
            assert_eq!(balance(base, &ana, &ana_w).await, expected);
        }
        assert_eq!(balance(&second.base, &bo, &bo_w).await, "12.00");
        let ledger_db = server.db().open().await;
        let p2p = count(
            &ledger_db,
            "SELECT count(*) FROM transfers WHERE kind = 'p2p'",
        )
        .await;
        assert_eq!(p2p, 6);
        ledger_db.close().await;
    }
}

#[actix_rt::test]
async fn old_records_are_pruned_in_bounded_steps() {
    use purse_server::idempotency::store::{self, NewRecord};
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "old_records_are_pruned") else {
            continue;
        };
        let db = test_db.open().await;
        let record = |key: &str, now_ms: i64| NewRecord {
            owner_id: "usr_prune".to_owned(),
            key: key.to_owned(),
            request_hash: [7; 32],
            response_status: 201,
            response_body: b"{}".to_vec(),
            now_ms,
        };
        let old: Vec<NewRecord> = (0..5)
            .map(|i| record(&format!("old-{i}"), 1_000 + i))
            .collect();
        store::insert_done(&db, &old).await.expect("insert");
        store::insert_done(&db, &[record("new", 10_000)])
            .await
            .expect("insert");
        // A second insert of a recorded key keeps the first record.
        store::insert_done(&db, &[record("new", 20_000)])
            .await
            .expect("insert");

        assert_eq!(store::prune(&db, 5_000, 3).await.expect("prune"), 3);
        assert_eq!(store::prune(&db, 5_000, 3).await.expect("prune"), 2);
        assert_eq!(store::prune(&db, 5_000, 3).await.expect("prune"), 0);
        assert!(
            store::find(&db, "usr_prune", "old-0")
                .await
                .unwrap()
                .is_none()
        );
        let kept = store::find(&db, "usr_prune", "new")
            .await
            .expect("find")
            .expect("kept");
        assert_eq!(kept.response_status, Some(201));
        assert_eq!(kept.response_body.as_deref(), Some(&b"{}"[..]));
        assert_eq!(kept.state, "done");
        let at = count(&db, "SELECT created_at_ms FROM idempotency_keys").await;
        assert_eq!(at, 10_000, "the first record of a key stays");
        db.close().await;
    }
}

/// The storage side of the cross-process claim (`idempotency::store`): one `started` claim per
/// key, the answer recorded over it, a later answer for the same key refused (the first recorded
/// answer wins and the loser is told to replay it), a crashed holder's claim taken over by one
/// caller only, and a release that never deletes an answer.
#[actix_rt::test]
async fn first_recorded_answer_wins_and_a_stale_claim_is_taken_over_once() {
    use purse_server::idempotency::store::{self, NewRecord};
    for backend in BACKENDS {
        let Some(test_db) = TestDb::new(backend, "first_recorded_answer_wins") else {
            continue;
        };
        let db = test_db.open().await;
        let hash = [9; 32];
        let answer = |status: u16, body: &[u8], now_ms: i64| NewRecord {
            owner_id: "usr_claims".to_owned(),
            key: "k".to_owned(),
            request_hash: hash,
            response_status: status,
            response_body: body.to_vec(),
            now_ms,
        };
        assert!(
            store::claim(&db, "usr_claims", "k", &hash, 1_000)
                .await
                .unwrap()
        );
        assert!(
            !store::claim(&db, "usr_claims", "k", &hash, 1_001)
                .await
                .unwrap()
        );
        let started = store::find(&db, "usr_claims", "k").await.unwrap().unwrap();
        assert_eq!(
            (started.state.as_str(), started.updated_at_ms),
            ("started", 1_000)
        );
        // A crashed holder: exactly one of two callers takes the claim over.
        assert!(
            store::take_over(&db, "usr_claims", "k", 1_000, 20_000)
                .await
                .unwrap()
        );
        assert!(
            !store::take_over(&db, "usr_claims", "k", 1_000, 20_001)
                .await
                .unwrap()
        );

        assert_eq!(
            store::insert_done(&db, &[answer(201, b"first", 20_100)])
                .await
                .unwrap(),
            vec![true]
        );
        let second = store::insert_done(&db, &[answer(402, b"second", 20_200)])
            .await
            .unwrap();
        // The loser is told (and then replays the first answer), on both backends.
        assert_eq!(second, vec![false], "{backend:?}");
        store::release(&db, "usr_claims", "k").await.unwrap();
        let done = store::find(&db, "usr_claims", "k").await.unwrap().unwrap();
        assert_eq!(done.state, "done");
        assert_eq!(done.response_status, Some(201));
        assert_eq!(done.response_body.as_deref(), Some(&b"first"[..]));
        assert!(
            !store::take_over(&db, "usr_claims", "k", done.updated_at_ms, 99_000)
                .await
                .unwrap()
        );

        // A released claim is gone, so a retry claims afresh.
        assert!(
            store::claim(&db, "usr_claims", "k2", &hash, 1_000)
                .await
                .unwrap()
        );
        store::release(&db, "usr_claims", "k2").await.unwrap();
        assert!(
            store::find(&db, "usr_claims", "k2")
                .await
                .unwrap()
                .is_none()
        );
        db.close().await;
    }
}
