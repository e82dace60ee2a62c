//! Risk rules over real HTTP on SQLite and PostgreSQL: per-transaction and daily limits, velocity
//! per device, the new-device cool-down (for payments and charges), each with its own code, each
//! refusal recorded and listed by `GET /v1/admin/risk-rejections` (operator token, paginated).

use rust_decimal::Decimal;
use serde_json::json;

use crate::charges::{charge, charge_body, paycode_of};
use crate::merchants::{bearer_call, shop};
use crate::payments::{pay, payer, qr_payload};
use crate::transfers::{ADMIN_TOKEN, balance, new_key, start_with};
use crate::util::{BACKENDS, assert_problem};

#[actix_rt::test]
async fn amount_daily_and_velocity_limits_are_recorded() {
    for backend in BACKENDS {
        let Some(server) = start_with(backend, "risk_limits", |config| {
            config.risk.transaction_max = Decimal::new(100, 0);
            config.risk.daily_max = Decimal::new(150, 0);
            config.risk.velocity_per_minute = 3;
            config.risk.new_device_cooldown_s = 0;
        }) else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "1000.00").await;
        let (cy, cy_wallet) = payer(base, "cy@example.com", 3, "1000.00").await;
        let payload = qr_payload(base, &shop, &json!({})).await;
        let pay_bo =
            |amount: &str| json!({"payload": payload, "wallet": bo_wallet, "amount": amount});

        let over = pay(base, &bo, &new_key(), &pay_bo("100.01")).await.reply;
        assert_problem(&over, 422, "risk_amount_limit");
        assert_eq!(
            pay(base, &bo, &new_key(), &pay_bo("100.00"))
                .await
                .reply
                .status,
            201
        );
        assert_eq!(
            pay(base, &bo, &new_key(), &pay_bo("40.00"))
                .await
                .reply
                .status,
            201
        );
        let daily = pay(base, &bo, &new_key(), &pay_bo("20.00")).await.reply;
        assert_problem(&daily, 422, "risk_daily_limit");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "860.00");

        // Velocity: payments and charges of one device in a minute.
        let pay_cy = json!({"payload": payload, "wallet": cy_wallet, "amount": "1.00"});
        for _ in 0..2 {
            assert_eq!(pay(base, &cy, &new_key(), &pay_cy).await.reply.status, 201);
        }
        let code = paycode_of(&cy.phone.secret, 1, 0, None);
        assert_eq!(
            charge(base, &shop, &new_key(), &charge_body(&code, "1.00"))
                .await
                .status,
            201
        );
        let fast = pay(base, &cy, &new_key(), &pay_cy).await.reply;
        assert_problem(&fast, 422, "risk_velocity");
        let code = paycode_of(&cy.phone.secret, 2, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&code, "1.00")).await,
            422,
            "risk_velocity",
        );
        assert_eq!(balance(base, &cy, &cy_wallet).await, "997.00");

        // The operator's list, newest first, paginated.
        let list = |query: &str| {
            let url = format!("/v1/admin/risk-rejections{query}");
            async move { bearer_call(base, "GET", &url, ADMIN_TOKEN, None, None).await }
        };
        let all = list("").await;
        assert_eq!(all.status, 200, "{}", all.text);
        let rules: Vec<&str> = all.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert_eq!(
            rules,
            [
                "risk_velocity",
                "risk_velocity",
                "risk_daily_limit",
                "risk_amount_limit"
            ],
            "{backend:?}"
        );
        assert_eq!(all.json["has_more"], false);
        let first = &all.json["data"][3];
        assert_eq!(first["user_id"], bo.user_id.as_str());
        assert_eq!(first["device_id"], bo.phone.device_id.as_str());
        assert_eq!(first["merchant_id"], shop.id.as_str());
        assert_eq!(first["amount"], "100.01");
        assert_eq!(first["currency"], "USD");
        let page = list("?limit=2").await;
        assert_eq!(page.json["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(page.json["has_more"], true);
        let after = page.json["data"][1]["id"].as_str().unwrap();
        let next = list(&format!("?limit=2&starting_after={after}")).await;
        assert_eq!(next.json["data"][0]["rule"], "risk_daily_limit");
        assert_eq!(next.json["data"][1]["rule"], "risk_amount_limit");
        assert_eq!(next.json["has_more"], false);
        let denied = bearer_call(
            base,
            "GET",
            "/v1/admin/risk-rejections",
            &bo.token,
            None,
            None,
        )
        .await;
        assert_problem(&denied, 401, "admin_token_invalid");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn new_devices_wait_before_large_amounts() {
    for backend in BACKENDS {
        let Some(server) = start_with(backend, "risk_new_device", |config| {
            config.risk.new_device_cooldown_s = 3600;
            config.risk.new_device_amount_max = Decimal::new(50, 0);
        }) else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "200.00").await;
        let payload = qr_payload(base, &shop, &json!({})).await;
        let body =
            |amount: &str| json!({"payload": payload, "wallet": bo_wallet, "amount": amount});
        let large = pay(base, &bo, &new_key(), &body("50.01")).await.reply;
        assert_problem(&large, 422, "risk_new_device");
        assert_eq!(
            pay(base, &bo, &new_key(), &body("50.00"))
                .await
                .reply
                .status,
            201
        );
        let code = paycode_of(&bo.phone.secret, 1, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&code, "60.00")).await,
            422,
            "risk_new_device",
        );
        assert_eq!(balance(base, &bo, &bo_wallet).await, "150.00");
        let all = bearer_call(
            base,
            "GET",
            "/v1/admin/risk-rejections",
            ADMIN_TOKEN,
            None,
            None,
        )
        .await;
        assert_eq!(
            all.json["data"].as_array().map(Vec::len),
            Some(2),
            "{}",
            all.text
        );
        assert!(
            all.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["rule"] == "risk_new_device")
        );
    }
}

/// The daily limit is kept in memory (`purse_server::usage`): a charge that moved no money gives
/// its amount back, and another process on the same database starts from what the day's rows say.
#[actix_rt::test]
async fn the_daily_limit_counts_what_moved_and_a_second_process_reads_the_day() {
    for backend in BACKENDS {
        let Some(server) = start_with(backend, "risk_daily_usage", |config| {
            config.risk.daily_max = Decimal::new(150, 0);
            config.risk.new_device_cooldown_s = 0;
        }) else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "100.00").await;
        let code = paycode_of(&bo.phone.secret, 1, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&code, "120.00")).await,
            402,
            "insufficient_funds",
        );
        // Had the refused 120.00 stayed counted, 220.00 would pass the 150.00 limit.
        let code = paycode_of(&bo.phone.secret, 2, 0, None);
        let paid = charge(base, &shop, &new_key(), &charge_body(&code, "100.00")).await;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let code = paycode_of(&bo.phone.secret, 3, 0, None);
        assert_problem(
            &charge(base, &shop, &new_key(), &charge_body(&code, "50.01")).await,
            422,
            "risk_daily_limit",
        );
        let out = server.purse(&["admin", "fund", &bo_wallet, "100.00"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);

        // A second process has no count in memory: it reads today's 100.00 from the database.
        let second = server.second("risk_daily_usage_second");
        let other = second.base.as_str();
        let code = paycode_of(&bo.phone.secret, 4, 0, None);
        assert_problem(
            &charge(other, &shop, &new_key(), &charge_body(&code, "60.00")).await,
            422,
            "risk_daily_limit",
        );
        let code = paycode_of(&bo.phone.secret, 5, 0, None);
        let paid = charge(other, &shop, &new_key(), &charge_body(&code, "50.00")).await;
        assert_eq!(paid.status, 201, "{}", paid.text);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "50.00");
        drop(second);
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}
