//! Charging consumer pay codes over real HTTP on SQLite and PostgreSQL: the receipt, idempotent
//! replay, replayed and concurrently charged codes (exactly one succeeds), expired, over the cap,
//! tampered, unknown and revoked devices, funds and currencies; reads by the merchant only.

use purse_core::keys::SecretKey;
use purse_core::money::{Amount, Currency};
use purse_core::paycode::{self, NewPayCode};
use purse_server::with_db;
use serde_json::{Value, json};

use crate::merchants::{Shop, bearer_call, shop};
use crate::payments::payer;
use crate::transfers::{Member, balance, get_auth, member, new_key, post_auth, start};
use crate::util::{BACKENDS, Reply, assert_problem};

fn now_unix() -> u64 {
    (purse_server::ledger::now_ms() / 1000) as u64
}

/// A pay code of `secret` with `counter`, issued `age_s` seconds ago, optionally capped.
pub fn paycode_of(secret: &SecretKey, counter: u32, age_s: u64, cap: Option<&str>) -> String {
    let usd = Currency::from_code("USD").unwrap();
    paycode::generate(
        secret,
        &NewPayCode {
            counter,
            issued_at_unix: now_unix() - age_s,
            validity_secs: 60,
            cap: cap.map(|c| Amount::parse(c, usd).unwrap()),
        },
    )
    .expect("pay code")
}

/// `POST /v1/charges` with the shop's POS key.
pub async fn charge(base: &str, shop: &Shop, key: &str, body: &Value) -> Reply {
    bearer_call(
        base,
        "POST",
        "/v1/charges",
        &shop.pos,
        Some(key),
        Some(body),
    )
    .await
}

pub fn charge_body(code: &str, amount: &str) -> Value {
    json!({"paycode": code, "amount": amount, "currency": "USD", "reference": "till-1-0042"})
}

pub async fn revoke_device(base: &str, who: &Member) {
    let reply = post_auth(
        base,
        &format!("/v1/devices/{}/revoke", who.phone.device_id),
        &who.token,
        &json!({}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[actix_rt::test]
async fn charge_a_pay_code_and_refuse_replays() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "charge_pay_code") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "20.00").await;
        let eve = member(base, "eve@example.com", 3).await;

        let code = paycode_of(&bo.phone.secret, 1, 0, None);
        let key = new_key();
        let receipt = charge(base, &shop, &key, &charge_body(&code, "4.20")).await;
        assert_eq!(receipt.status, 201, "{backend:?}: {}", receipt.text);
        let id = receipt.json["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("chg_"));
        assert_eq!(receipt.json["merchant_id"], shop.id.as_str());
        assert_eq!(receipt.json["amount"], "4.20");
        assert_eq!(receipt.json["currency"], "USD");
        assert_eq!(receipt.json["reference"], "till-1-0042");
        assert_eq!(receipt.json["device_id"], bo.phone.device_id.as_str());
        assert_eq!(receipt.json["status"], "succeeded");
        assert_eq!(receipt.json["refunded_amount"], "0.00");
        assert!(
            receipt.json["transfer_id"]
                .as_str()
                .unwrap()
                .starts_with("txn_")
        );
        assert_eq!(balance(base, &bo, &bo_wallet).await, "15.80");

        // The receipt's idempotency record committed with the charge's money (the ledger
        // batch's outbox): it is there, with the very bytes answered, as the answer arrives.
        let db = server.db().open().await;
        let record = purse_server::idempotency::store::find(&db, &shop.id, &key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{backend:?}: no record at the answer"));
        assert_eq!(record.state, "done");
        assert_eq!(record.response_status, Some(201));
        assert_eq!(
            record.response_body.as_deref(),
            Some(receipt.text.as_bytes())
        );
        let paid = get_auth(
            base,
            &format!(
                "/v1/transfers/{}",
                receipt.json["transfer_id"].as_str().unwrap()
            ),
            &bo.token,
        )
        .await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        assert_eq!(
            record.updated_at_ms,
            paid.json["created_at_ms"].as_i64().unwrap(),
            "{backend:?}: recorded in the transfer's own transaction"
        );
        db.close().await;

        // The same key replays the receipt; another key with the same code is a replay.
        let again = charge(base, &shop, &key, &charge_body(&code, "4.20")).await;
        assert_eq!(again.json, receipt.json);
        assert_eq!(again.text, receipt.text);
        let replayed = charge(base, &shop, &new_key(), &charge_body(&code, "4.20")).await;
        assert_problem(&replayed, 409, "paycode_replayed");
        // A lower counter than the last accepted one is a replay too.
        let newer = paycode_of(&bo.phone.secret, 5, 0, None);
        assert_eq!(
            charge(base, &shop, &new_key(), &charge_body(&newer, "0.80"))
                .await
                .status,
            201
        );
        let older = paycode_of(&bo.phone.secret, 3, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&older, "0.80")).await,
            409,
            "paycode_replayed",
        );
        assert_eq!(balance(base, &bo, &bo_wallet).await, "15.00");

        // Reads: owner and POS key of the merchant; nobody else.
        let path = format!("/v1/charges/{id}");
        assert_eq!(
            get_auth(base, &path, &shop.owner.token).await.json,
            receipt.json
        );
        assert_eq!(
            bearer_call(base, "GET", &path, &shop.pos, None, None)
                .await
                .json,
            receipt.json
        );
        assert_problem(&get_auth(base, &path, &eve.token).await, 404, "not_found");
        let other = shop_other(base).await;
        assert_problem(
            &bearer_call(base, "GET", &path, &other.pos, None, None).await,
            404,
            "not_found",
        );

        // Concurrent charges of one code (two merchants at once): exactly one succeeds.
        for counter in [10u32, 11, 12] {
            let code = paycode_of(&bo.phone.secret, counter, 0, None);
            let body = charge_body(&code, "1.00");
            let (k1, k2) = (new_key(), new_key());
            let (a, b) = tokio::join!(
                charge(base, &shop, &k1, &body),
                charge(base, &other, &k2, &body)
            );
            let statuses = [a.status, b.status];
            assert!(
                statuses.contains(&201) && statuses.contains(&409),
                "{} / {}",
                a.text,
                b.text
            );
        }
        assert_eq!(balance(base, &bo, &bo_wallet).await, "12.00");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

async fn shop_other(base: &str) -> Shop {
    shop(base, "other@example.com", 9).await
}

#[actix_rt::test]
async fn every_charge_refusal_has_its_code() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "charge_refusals") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "10.00").await;
        let (cy, _) = payer(base, "cy@example.com", 3, "10.00").await;
        let dee = member(base, "dee@example.com", 4).await;

        let expired = paycode_of(&bo.phone.secret, 1, 200, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&expired, "1.00")).await,
            422,
            "paycode_expired",
        );
        let capped = paycode_of(&bo.phone.secret, 2, 0, Some("5.00"));
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&capped, "5.01")).await,
            422,
            "paycode_over_limit",
        );
        // Within the cap it goes through (the counter was not consumed by the refusal).
        assert_eq!(
            charge(base, &shop, &new_key(), &charge_body(&capped, "5.00"))
                .await
                .status,
            201
        );
        let unknown = paycode_of(&SecretKey::from_bytes(&[77; 32]), 1, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&unknown, "1.00")).await,
            422,
            "paycode_invalid",
        );
        assert_problem(
            &charge(
                base,
                &shop,
                &new_key(),
                &charge_body("PC1:NOTACODE", "1.00"),
            )
            .await,
            400,
            "paycode_invalid",
        );
        // Tampered: one base45 character changed.
        let good = paycode_of(&bo.phone.secret, 3, 0, None);
        let mut chars: Vec<char> = good.chars().collect();
        let at = chars.len() - 10;
        chars[at] = if chars[at] == '0' { '1' } else { '0' };
        let tampered: String = chars.into_iter().collect();
        let reply = charge(base, &shop, &new_key(), &charge_body(&tampered, "1.00")).await;
        assert!(reply.json["code"] == "paycode_invalid", "{}", reply.text);
        // No funds: over the balance, or no wallet in the currency at all.
        let big = paycode_of(&bo.phone.secret, 4, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&big, "50.00")).await,
            402,
            "insufficient_funds",
        );
        let dee_code = paycode_of(&dee.phone.secret, 1, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&dee_code, "1.00")).await,
            402,
            "insufficient_funds",
        );
        // Another currency than the merchant's.
        let eur = paycode_of(&bo.phone.secret, 6, 0, None);
        let body = json!({"paycode": eur, "amount": "1.00", "currency": "EUR"});
        assert_problem(
            &charge(base, &shop, &new_key(), &body).await,
            422,
            "currency_mismatch",
        );
        // A revoked device, refused at once though its last charge was a moment ago (the
        // charge path keeps recently read devices: a revocation here forgets them).
        let cy_before = paycode_of(&cy.phone.secret, 1, 0, None);
        let paid = charge(base, &shop, &new_key(), &charge_body(&cy_before, "1.00")).await;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let cy_code = paycode_of(&cy.phone.secret, 2, 0, None);
        revoke_device(base, &cy).await;
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&cy_code, "1.00")).await,
            403,
            "device_revoked",
        );
        // Authentication: a user token is not a POS key; no key; missing Idempotency-Key.
        let code = paycode_of(&bo.phone.secret, 7, 0, None);
        let reply = bearer_call(
            base,
            "POST",
            "/v1/charges",
            &bo.token,
            Some(&new_key()),
            Some(&charge_body(&code, "1.00")),
        )
        .await;
        assert_eq!(reply.status, 401, "{}", reply.text);
        let reply = bearer_call(
            base,
            "POST",
            "/v1/charges",
            &shop.pos,
            None,
            Some(&charge_body(&code, "1.00")),
        )
        .await;
        assert_problem(&reply, 400, "idempotency_key_missing");
        let reply = charge(
            base,
            &shop,
            &new_key(),
            &json!({"paycode": code, "amount": "1.001", "currency": "USD"}),
        )
        .await;
        assert_problem(&reply, 400, "amount_too_precise");
        // A merchant deactivated a moment after its POS key was used cannot charge (the POS
        // key's merchant, kept for a few seconds, is forgotten by the deactivation).
        let off = post_auth(
            base,
            &format!("/v1/merchants/{}/deactivate", shop.id),
            &shop.owner.token,
            &json!({}),
        )
        .await;
        assert_eq!(off.status, 200, "{}", off.text);
        let late = paycode_of(&bo.phone.secret, 8, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&late, "1.00")).await,
            422,
            "merchant_inactive",
        );

        assert_eq!(balance(base, &bo, &bo_wallet).await, "5.00");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

/// Rounds of concurrent charges, every code sent twice at once (so ledger batches hold claims
/// that lose), with one payer short of money: each code is charged at most once, a refusal for
/// funds leaves its code usable, and in the database every charge row is `succeeded` with its
/// transfer (`paycode:<device>:<counter>`, memo the charge) and its two `payment.succeeded`
/// events. A charge never exists without its money nor money without its charge (the ledger's
/// outbox).
#[actix_rt::test]
async fn concurrent_charges_commit_with_their_transfer_and_events() {
    const PAYERS: u8 = 12;
    const ROUNDS: u32 = 4;
    for backend in BACKENDS {
        let Some(server) = start(backend, "charge_outbox") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let mut payers = Vec::new();
        for n in 0..PAYERS {
            // The last payer can pay two of its four charges of 1.50.
            let funds = if n == PAYERS - 1 { "3.00" } else { "50.00" };
            payers.push(payer(base, &format!("p{n}@example.com"), 10 + n, funds).await);
        }
        let mut created = 0usize;
        for round in 1..=ROUNDS {
            let mut sends = Vec::new();
            for (who, _) in &payers {
                let code = paycode_of(&who.phone.secret, round, 0, None);
                for _ in 0..2 {
                    let body = charge_body(&code, "1.50");
                    let shop = &shop;
                    sends.push(async move { charge(base, shop, &new_key(), &body).await });
                }
            }
            let replies = futures_util::future::join_all(sends).await;
            for (pair, (who, _)) in replies.chunks(2).zip(&payers) {
                let statuses = [pair[0].status, pair[1].status];
                let won = statuses.iter().filter(|s| **s == 201).count();
                let short = who.email == format!("p{}@example.com", PAYERS - 1);
                if short && round > 2 {
                    assert_eq!(statuses, [402, 402], "{backend:?}: {}", pair[0].text);
                } else if short {
                    // The twin may be refused for funds (the winner's amount is held) or as
                    // a replay.
                    assert_eq!(won, 1, "{backend:?} {statuses:?}: {}", pair[0].text);
                    assert!(
                        statuses.contains(&402) || statuses.contains(&409),
                        "{backend:?} {statuses:?}"
                    );
                } else {
                    assert_eq!(
                        (won, statuses.contains(&409)),
                        (1, true),
                        "{backend:?} round {round}: {} / {}",
                        pair[0].text,
                        pair[1].text
                    );
                }
                created += won;
            }
        }
        for (n, (who, wallet)) in payers.iter().enumerate() {
            let left = if n == usize::from(PAYERS - 1) {
                "0.00"
            } else {
                "44.00"
            };
            assert_eq!(balance(base, who, wallet).await, left, "{backend:?} p{n}");
        }
        // The short payer's last code was refused, not used up: funded, it goes through.
        let (short, short_wallet) = &payers[usize::from(PAYERS - 1)];
        crate::transfers::fund(base, short_wallet, "1.50").await;
        let last = paycode_of(&short.phone.secret, ROUNDS, 0, None);
        let reply = charge(base, &shop, &new_key(), &charge_body(&last, "1.50")).await;
        assert_eq!(reply.status, 201, "{backend:?}: {}", reply.text);
        created += 1;
        assert_eq!(created, usize::from(PAYERS - 1) * ROUNDS as usize + 3);

        let db = server.db().open().await;
        let charges: Vec<(String, String, String, i64, Option<String>)> = with_db!(&db, pool =>
            sqlx::query_as(
                "SELECT id, status, device_id, counter, transfer_id FROM charges ORDER BY id"
            )
            .fetch_all(pool)
            .await)
        .expect("charges");
        let transfers: Vec<(String, String, Option<String>)> = with_db!(&db, pool =>
            sqlx::query_as(
                "SELECT id, reference, memo FROM transfers WHERE kind = 'payment' ORDER BY id"
            )
            .fetch_all(pool)
            .await)
        .expect("payment transfers");
        let events: Vec<(String, i64)> = with_db!(&db, pool =>
            sqlx::query_as(
                "SELECT dedupe_key, COUNT(*) FROM events WHERE type = 'payment.succeeded' \
                 GROUP BY dedupe_key ORDER BY dedupe_key"
            )
            .fetch_all(pool)
            .await)
        .expect("events");
        db.close().await;

        let succeeded: Vec<_> = charges.iter().filter(|c| c.1 == "succeeded").collect();
        assert_eq!(succeeded.len(), created, "{backend:?}");
        assert_eq!(
            succeeded.len(),
            charges.len(),
            "{backend:?}: a refused charge stores nothing: {charges:?}"
        );
        let mut expected_transfers: Vec<_> = succeeded
            .iter()
            .map(|(id, _, device, counter, transfer)| {
                (
                    transfer
                        .clone()
                        .expect("a succeeded charge names its transfer"),
                    format!("paycode:{device}:{counter}"),
                    Some(id.clone()),
                )
            })
            .collect();
        expected_transfers.sort();
        assert_eq!(transfers, expected_transfers, "{backend:?}");
        let expected_events: Vec<(String, i64)> = succeeded
            .iter()
            .map(|(id, ..)| (format!("charge:{id}"), 2))
            .collect();
        assert_eq!(events, expected_events, "{backend:?}");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}
