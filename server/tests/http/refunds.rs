//! Refunds over real HTTP on SQLite and PostgreSQL: partial then full refunds of payments and
//! charges, refusing more than the original (also under concurrent refunds), idempotent replay,
//! reads and refunds by the merchant only, events, and `purse ledger verify` clean.

use serde_json::{Value, json};

use crate::charges::{charge, charge_body, paycode_of};
use crate::merchants::{Shop, bearer_call, shop};
use crate::payments::{pay, payer, qr_payload};
use crate::transfers::{balance, get_auth, member, new_key, start};
use crate::util::{BACKENDS, Reply, assert_problem};

async fn refund(base: &str, bearer: &str, key: &str, body: &Value) -> Reply {
    bearer_call(base, "POST", "/v1/refunds", bearer, Some(key), Some(body)).await
}

async fn merchant_balance(server: &crate::util::TestServer, shop: &Shop) -> i64 {
    let db = server.db().open().await;
    let account = purse_server::ledger::store::account(&db, &shop.wallet)
        .await
        .expect("read")
        .expect("wallet");
    db.close().await;
    account.balance_minor
}

#[actix_rt::test]
async fn partial_full_and_exceeding_refunds() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "partial_full_refunds") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "50.00").await;
        let eve = member(base, "eve@example.com", 3).await;
        let payload = qr_payload(base, &shop, &json!({"amount": "10.00"})).await;
        let paid = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let payment = paid.json["id"].as_str().unwrap().to_owned();

        // Partial, by the POS key.
        let key = new_key();
        let body = json!({"payment": payment, "amount": "3.00", "reason": "cold coffee"});
        let first = refund(base, &shop.pos, &key, &body).await;
        assert_eq!(first.status, 201, "{backend:?}: {}", first.text);
        assert!(first.json["id"].as_str().unwrap().starts_with("rfd_"));
        assert_eq!(first.json["payment"], payment.as_str());
        assert_eq!(first.json["amount"], "3.00");
        assert_eq!(first.json["currency"], "USD");
        assert_eq!(first.json["status"], "succeeded");
        assert_eq!(first.json["reason"], "cold coffee");
        assert!(
            first.json["transfer_id"]
                .as_str()
                .unwrap()
                .starts_with("txn_")
        );
        assert_eq!(balance(base, &bo, &bo_wallet).await, "43.00");
        // Replay: same answer, no second refund.
        let again = refund(base, &shop.pos, &key, &body).await;
        assert_eq!(again.json, first.json);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "43.00");
        let read = get_auth(base, &format!("/v1/payments/{payment}"), &bo.token).await;
        assert_eq!(read.json["refunded_amount"], "3.00");

        // More than what is left.
        let over = refund(
            base,
            &shop.owner.token,
            &new_key(),
            &json!({"payment": payment, "amount": "7.01"}),
        )
        .await;
        assert_problem(&over, 422, "refund_exceeds_payment");
        // Someone else cannot refund it, nor read the refund.
        let eves = refund(base, &eve.token, &new_key(), &json!({"payment": payment})).await;
        assert_problem(&eves, 404, "not_found");
        let rfd = first.json["id"].as_str().unwrap();
        assert_problem(
            &get_auth(base, &format!("/v1/refunds/{rfd}"), &eve.token).await,
            404,
            "not_found",
        );
        assert_eq!(
            get_auth(base, &format!("/v1/refunds/{rfd}"), &bo.token)
                .await
                .json,
            first.json
        );
        assert_eq!(
            get_auth(base, &format!("/v1/refunds/{rfd}"), &shop.owner.token)
                .await
                .json,
            first.json
        );

        // Full: the rest by default, by the owner.
        let rest = refund(
            base,
            &shop.owner.token,
            &new_key(),
            &json!({"payment": payment}),
        )
        .await;
        assert_eq!(rest.status, 201, "{}", rest.text);
        assert_eq!(rest.json["amount"], "7.00");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "50.00");
        let nothing = refund(
            base,
            &shop.owner.token,
            &new_key(),
            &json!({"payment": payment}),
        )
        .await;
        assert_problem(&nothing, 422, "refund_exceeds_payment");
        let bad = refund(
            base,
            &shop.owner.token,
            &new_key(),
            &json!({"payment": "txn_x"}),
        )
        .await;
        assert_problem(&bad, 400, "payment_invalid");

        // A charge is refundable too.
        let code = paycode_of(&bo.phone.secret, 1, 0, None);
        let receipt = charge(base, &shop, &new_key(), &charge_body(&code, "4.00")).await;
        assert_eq!(receipt.status, 201, "{}", receipt.text);
        let chg = receipt.json["id"].as_str().unwrap();
        let back = refund(
            base,
            &shop.pos,
            &new_key(),
            &json!({"payment": chg, "amount": "4.00"}),
        )
        .await;
        assert_eq!(back.status, 201, "{}", back.text);
        let read = get_auth(base, &format!("/v1/charges/{chg}"), &shop.owner.token).await;
        assert_eq!(read.json["refunded_amount"], "4.00");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "50.00");
        assert_eq!(merchant_balance(&server, &shop).await, 0);

        // Events: payment.refunded to the payer and the merchant, once per refund.
        let db = server.db().open().await;
        let events = purse_server::events::Events::new(db.clone());
        for owner in [bo.user_id.as_str(), shop.id.as_str()] {
            let refunded = events
                .after(owner, 0, 100)
                .await
                .expect("events")
                .into_iter()
                .filter(|s| s.event.type_.as_str() == "payment.refunded")
                .count();
            assert_eq!(refunded, 3, "{owner}");
        }
        db.close().await;
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn concurrent_refunds_never_exceed_the_payment() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "concurrent_refunds") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "10.00").await;
        let payload = qr_payload(base, &shop, &json!({"amount": "10.00"})).await;
        let paid = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet}),
        )
        .await
        .reply;
        let payment = paid.json["id"].as_str().unwrap().to_owned();
        // Eight refunds of 3.00 at once: at most three fit in 10.00.
        let body = json!({"payment": payment, "amount": "3.00"});
        let keys: Vec<String> = (0..8).map(|_| new_key()).collect();
        let replies = futures_util::future::join_all(
            keys.iter().map(|key| refund(base, &shop.pos, key, &body)),
        )
        .await;
        let ok = replies.iter().filter(|r| r.status == 201).count();
        let exceeded = replies
            .iter()
            .filter(|r| r.status == 422 && r.json["code"] == "refund_exceeds_payment")
            .count();
        assert_eq!(
            ok,
            3,
            "{backend:?}: {:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        assert_eq!(exceeded, 5);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "9.00");
        assert_eq!(merchant_balance(&server, &shop).await, 100);
        let read = get_auth(base, &format!("/v1/payments/{payment}"), &bo.token).await;
        assert_eq!(read.json["refunded_amount"], "9.00");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn a_refund_cut_off_by_a_crash_completes_on_retry() {
    use purse_server::with_db;
    for backend in BACKENDS {
        let Some(server) = start(backend, "refund_crash_retry") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "10.00").await;
        let payload = qr_payload(base, &shop, &json!({"amount": "10.00"})).await;
        let paid = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet}),
        )
        .await
        .reply;
        let payment = paid.json["id"].as_str().unwrap().to_owned();
        // What a crash between the reservation's commit and the refund transfer leaves behind:
        // 3.00 reserved on the payment and a pending refund under the owner's key.
        let key = new_key();
        let rfd = "rfd_000000000000000000000001";
        let db = server.db().open().await;
        with_db!(&db, pool => {
            sqlx::query("UPDATE payments SET refunded_minor = refunded_minor + 300 WHERE id = $1")
                .bind(&payment)
                .execute(pool)
                .await
                .expect("reserve");
            sqlx::query(
                "INSERT INTO refunds (id, payment_id, merchant_id, idempotency_key, amount_minor, \
                 currency, status, created_at_ms) VALUES ($1, $2, $3, $4, 300, 'USD', 'pending', 1)",
            )
            .bind(rfd)
            .bind(&payment)
            .bind(&shop.id)
            .bind(format!("{}:{key}", shop.owner.user_id))
            .execute(pool)
            .await
            .expect("pending refund");
        });
        db.close().await;
        assert_eq!(balance(base, &bo, &bo_wallet).await, "0.00");

        // The retry with the same key moves the money once and reserves nothing more.
        let body = json!({"payment": payment, "amount": "3.00"});
        let retried = refund(base, &shop.owner.token, &key, &body).await;
        assert_eq!(retried.status, 201, "{backend:?}: {}", retried.text);
        assert_eq!(retried.json["id"], rfd);
        assert_eq!(retried.json["status"], "succeeded");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "3.00");
        let read = get_auth(base, &format!("/v1/payments/{payment}"), &bo.token).await;
        assert_eq!(read.json["refunded_amount"], "3.00");
        let rest = refund(base, &shop.pos, &new_key(), &json!({"payment": payment})).await;
        assert_eq!(rest.json["amount"], "7.00", "{}", rest.text);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "10.00");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}
