//! Paying merchant-presented codes over real HTTP on SQLite and PostgreSQL: the whole flow with
//! the code read back from the rendered PNG by a QR reader (rqrr); static codes with an amount;
//! every refusal code (a third-party EMV vector, tampered, unsigned, expired, revoked key,
//! inactive merchant, currencies, amounts, funds); dynamic codes paid twice and concurrently;
//! reads by payer, owner and POS only; money conserved and `purse ledger verify` clean.

use purse_core::keys::SecretKey;
use purse_core::merchant_code::{self, CodeKind, NewMerchantCode};
use purse_core::money::{Amount, Currency};
use serde_json::{Value, json};

use crate::identity::{Full, signed_post};
use crate::merchants::{Shop, bearer_call, make_qr, shop};
use crate::transfers::{Member, balance, fund, get_auth, member, new_key, open_wallet, start};
use crate::util::{BACKENDS, assert_problem};

/// Reads the one QR code in a PNG image with rqrr.
pub fn scan_png(png: &[u8]) -> String {
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("PNG decodes")
        .to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        image.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("QR decodes").1
}

/// `POST /v1/payments` signed by `who`'s device under `key`.
pub async fn pay(base: &str, who: &Member, key: &str, body: &Value) -> Full {
    signed_post(
        base,
        "/v1/payments",
        &who.token,
        &who.phone,
        body,
        &[("idempotency-key", key.to_owned())],
    )
    .await
}

/// A member with a funded USD wallet.
pub async fn payer(base: &str, email: &str, seed: u8, funds: &str) -> (Member, String) {
    let who = member(base, email, seed).await;
    let wallet = open_wallet(base, &who, "USD").await;
    fund(base, &wallet, funds).await;
    (who, wallet)
}

/// The payload of a new code of `shop` (dynamic when `body` has an amount).
pub async fn qr_payload(base: &str, shop: &Shop, body: &Value) -> String {
    let reply = make_qr(base, &shop.pos, &shop.id, body).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["payload"].as_str().unwrap().to_owned()
}

fn now_unix() -> u64 {
    (purse_server::ledger::now_ms() / 1000) as u64
}

/// A code of `shop` signed at the till with `secret` (registered or not).
fn till_code(shop: &Shop, secret: &SecretKey, kind: CodeKind) -> String {
    merchant_code::generate(
        secret,
        &NewMerchantCode {
            merchant_id: &shop.id,
            merchant_name: "Blue Bottle",
            city: "Oakland",
            country: "US",
            mcc: "5814",
            currency: Currency::from_code("USD").unwrap(),
            kind,
        },
    )
    .expect("code")
}

fn usd(text: &str) -> Amount {
    Amount::parse(text, Currency::from_code("USD").unwrap()).unwrap()
}

#[actix_rt::test]
async fn merchant_presented_flow_from_the_png() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "merchant_presented_flow") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "50.00").await;
        let eve = member(base, "eve@example.com", 3).await;

        let qr = make_qr(
            base,
            &shop.pos,
            &shop.id,
            &json!({"amount": "12.50", "reference": "order-42"}),
        )
        .await;
        assert_eq!(qr.status, 201, "{backend:?}: {}", qr.text);
        let png = data_encoding::BASE64
            .decode(qr.json["png_base64"].as_str().unwrap().as_bytes())
            .expect("base64");
        let scanned = scan_png(&png);
        assert_eq!(scanned, qr.json["payload"].as_str().unwrap());

        let key = new_key();
        let paid = pay(
            base,
            &bo,
            &key,
            &json!({"payload": scanned, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let id = paid.json["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("pay_"), "{id}");
        assert_eq!(paid.json["merchant_id"], shop.id.as_str());
        assert_eq!(paid.json["merchant_name"], "Blue Bottle");
        assert_eq!(paid.json["wallet"], bo_wallet.as_str());
        assert_eq!(paid.json["amount"], "12.50");
        assert_eq!(paid.json["currency"], "USD");
        assert_eq!(paid.json["reference"], "order-42");
        assert_eq!(paid.json["status"], "succeeded");
        assert_eq!(paid.json["refunded_amount"], "0.00");
        assert!(
            paid.json["transfer_id"]
                .as_str()
                .unwrap()
                .starts_with("txn_")
        );
        assert_eq!(balance(base, &bo, &bo_wallet).await, "37.50");

        // Idempotent replay: the same answer, no second debit.
        let replay = pay(
            base,
            &bo,
            &key,
            &json!({"payload": scanned, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(replay.status, 201);
        assert_eq!(replay.json, paid.json);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "37.50");

        // Readable by the payer, the owner and the POS key; a 404 for anyone else.
        let path = format!("/v1/payments/{id}");
        assert_eq!(get_auth(base, &path, &bo.token).await.json, paid.json);
        assert_eq!(
            get_auth(base, &path, &shop.owner.token).await.json,
            paid.json
        );
        assert_eq!(
            bearer_call(base, "GET", &path, &shop.pos, None, None)
                .await
                .json,
            paid.json
        );
        assert_problem(&get_auth(base, &path, &eve.token).await, 404, "not_found");
        let other_shop = crate::merchants::shop(base, "other@example.com", 4).await;
        assert_problem(
            &bearer_call(base, "GET", &path, &other_shop.pos, None, None).await,
            404,
            "not_found",
        );

        // The merchant's wallet holds the money; the payer's history shows the payment.
        let history = get_auth(
            base,
            &format!("/v1/wallets/{bo_wallet}/transactions"),
            &bo.token,
        )
        .await;
        assert!(
            history
                .text
                .contains(paid.json["transfer_id"].as_str().unwrap()),
            "{}",
            history.text
        );

        // The merchant sees its balance and history (owner or POS key), nobody else does.
        let wallet_path = format!("/v1/merchants/{}/wallet", shop.id);
        let wallet = bearer_call(base, "GET", &wallet_path, &shop.pos, None, None).await;
        assert_eq!(wallet.status, 200, "{}", wallet.text);
        assert_eq!(wallet.json["id"], shop.wallet.as_str());
        assert_eq!(wallet.json["balance"], "12.50");
        assert_eq!(
            get_auth(base, &wallet_path, &shop.owner.token).await.json,
            wallet.json
        );
        assert_problem(
            &get_auth(base, &wallet_path, &eve.token).await,
            404,
            "not_found",
        );
        let incoming = get_auth(
            base,
            &format!("{wallet_path}/transactions"),
            &shop.owner.token,
        )
        .await;
        assert_eq!(incoming.json["data"][0]["id"], paid.json["transfer_id"]);
        assert_eq!(incoming.json["data"][0]["direction"], "credit");
        assert_eq!(incoming.json["data"][0]["memo"], id.as_str());

        // Events for the payer and the merchant.
        let state_db = server.db().open().await;
        let events = purse_server::events::Events::new(state_db.clone());
        for owner in [bo.user_id.as_str(), shop.id.as_str()] {
            let stored = events.after(owner, 0, 10).await.expect("events");
            let payment_events: Vec<_> = stored
                .iter()
                .filter(|s| s.event.type_.as_str() == "payment.succeeded")
                .collect();
            assert_eq!(payment_events.len(), 1, "{owner}");
            assert_eq!(payment_events[0].event.data, paid.json);
        }
        state_db.close().await;

        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn static_codes_dynamic_single_use_and_concurrent_payers() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "static_and_single_use") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "100.00").await;
        let (cy, cy_wallet) = payer(base, "cy@example.com", 3, "100.00").await;

        // Static: amount required, then paid any number of times.
        let payload = qr_payload(base, &shop, &json!({})).await;
        let missing = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_problem(&missing, 400, "amount_required");
        for amount in ["3.00", "4.50"] {
            let paid = pay(
                base,
                &bo,
                &new_key(),
                &json!({"payload": payload, "wallet": bo_wallet, "amount": amount}),
            )
            .await
            .reply;
            assert_eq!(paid.status, 201, "{backend:?}: {}", paid.text);
            assert_eq!(paid.json["amount"], amount);
            assert!(paid.json.get("reference").is_none());
        }
        let precise = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet, "amount": "1.001"}),
        )
        .await
        .reply;
        assert_problem(&precise, 400, "amount_too_precise");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "92.50");

        // Dynamic: paid once; the same payer with another key and another payer both refused.
        let dynamic = qr_payload(base, &shop, &json!({"amount": "10.00"})).await;
        let mismatch = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": dynamic, "wallet": bo_wallet, "amount": "9.00"}),
        )
        .await
        .reply;
        assert_problem(&mismatch, 422, "amount_mismatch");
        let first = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": dynamic, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(first.status, 201, "{}", first.text);
        let twice = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": dynamic, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_problem(&twice, 409, "qr_already_paid");
        let other = pay(
            base,
            &cy,
            &new_key(),
            &json!({"payload": dynamic, "wallet": cy_wallet}),
        )
        .await
        .reply;
        assert_problem(&other, 409, "qr_already_paid");
        assert_eq!(balance(base, &bo, &bo_wallet).await, "82.50");
        assert_eq!(balance(base, &cy, &cy_wallet).await, "100.00");

        // Two consumers at once: exactly one pays.
        for round in 0..3 {
            let code = qr_payload(base, &shop, &json!({"amount": "1.00"})).await;
            let body_b = json!({"payload": code, "wallet": bo_wallet});
            let body_c = json!({"payload": code, "wallet": cy_wallet});
            let (kb, kc) = (new_key(), new_key());
            let (b, c) = tokio::join!(pay(base, &bo, &kb, &body_b), pay(base, &cy, &kc, &body_c));
            let statuses = [b.reply.status, c.reply.status];
            assert!(
                statuses.contains(&201) && statuses.contains(&409),
                "round {round}: {} / {}",
                b.reply.text,
                c.reply.text
            );
        }
        let bo_left: rust_decimal::Decimal = balance(base, &bo, &bo_wallet).await.parse().unwrap();
        let cy_left: rust_decimal::Decimal = balance(base, &cy, &cy_wallet).await.parse().unwrap();
        assert_eq!(bo_left + cy_left, rust_decimal::Decimal::new(17_950, 2));

        // Money conserved: what left the payers is in the merchant's wallet.
        let db = server.db().open().await;
        let ledger_wallet = purse_server::ledger::store::account(&db, &shop.wallet)
            .await
            .expect("read")
            .expect("merchant wallet");
        assert_eq!(ledger_wallet.balance_minor, 2_050);
        db.close().await;
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn every_payment_refusal_has_its_code() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "payment_refusals") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "5.00").await;
        let eve = member(base, "eve@example.com", 3).await;
        let eve_wallet = open_wallet(base, &eve, "USD").await;
        let bo_eur = open_wallet(base, &bo, "EUR").await;
        let body =
            |payload: &str| json!({"payload": payload, "wallet": bo_wallet, "amount": "1.00"});

        // A real third-party code (Pix) is valid EMV but not a Purse code.
        let vectors: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../core/tests/data/emv-mpm.json"
            ))
            .expect("vectors"),
        )
        .unwrap();
        let pix = vectors
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["valid"] == true)
            .expect("a valid vector");
        let reply = pay(
            base,
            &bo,
            &new_key(),
            &body(pix["payload"].as_str().unwrap()),
        )
        .await
        .reply;
        assert_problem(&reply, 422, "qr_not_purse");
        let reply = pay(base, &bo, &new_key(), &body("000201garbage"))
            .await
            .reply;
        assert_problem(&reply, 400, "qr_invalid");

        // Tampered: one character of the signed part changed (CRC recomputed so it is valid EMV).
        let payload = qr_payload(base, &shop, &json!({})).await;
        let without_crc = &payload[..payload.len() - 8];
        let tampered = purse_core::emv::append_crc(without_crc.replacen("Oakland", "Oaklanx", 1));
        assert!(
            purse_core::emv::decode(&tampered).is_ok(),
            "still valid EMV"
        );
        let reply = pay(base, &bo, &new_key(), &body(&tampered)).await.reply;
        assert_problem(&reply, 422, "qr_signature_invalid");
        let forged = till_code(
            &shop,
            &SecretKey::from_bytes(&[7; 32]),
            CodeKind::Static {
                expires_at_unix: None,
            },
        );
        let reply = pay(base, &bo, &new_key(), &body(&forged)).await.reply;
        assert_problem(&reply, 422, "qr_signature_invalid");

        // A Purse code without a signature proves nothing.
        let unsigned = merchant_code::encode_unsigned(&NewMerchantCode {
            merchant_id: &shop.id,
            merchant_name: "Blue Bottle",
            city: "Oakland",
            country: "US",
            mcc: "5814",
            currency: Currency::from_code("USD").unwrap(),
            kind: CodeKind::Static {
                expires_at_unix: None,
            },
        })
        .expect("unsigned code");
        let reply = pay(base, &bo, &new_key(), &body(&unsigned)).await.reply;
        assert_problem(&reply, 422, "qr_signature_invalid");

        // A till key: its codes pay; expired ones do not; once revoked none do.
        let till = SecretKey::from_bytes(&[9; 32]);
        let keys_path = format!("/v1/merchants/{}/keys", shop.id);
        let registered = crate::transfers::post_auth(
            base,
            &keys_path,
            &shop.owner.token,
            &json!({"public_key": till.public_key().to_string()}),
        )
        .await;
        assert_eq!(registered.status, 201, "{}", registered.text);
        let good = till_code(
            &shop,
            &till,
            CodeKind::Static {
                expires_at_unix: None,
            },
        );
        let reply = pay(base, &bo, &new_key(), &body(&good)).await.reply;
        assert_eq!(reply.status, 201, "{backend:?}: {}", reply.text);
        let expired = till_code(
            &shop,
            &till,
            CodeKind::Dynamic {
                amount: usd("1.00"),
                reference: "late-1".to_owned(),
                expires_at_unix: now_unix() - 120,
            },
        );
        let reply = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": expired, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_problem(&reply, 422, "qr_expired");
        let revoked = bearer_call(
            base,
            "DELETE",
            &format!("{keys_path}/{}", till.key_id()),
            &shop.owner.token,
            None,
            None,
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        let reply = pay(base, &bo, &new_key(), &body(&good)).await.reply;
        assert_problem(&reply, 422, "merchant_key_revoked");

        // Wallets: another currency, someone else's.
        let reply = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_eur, "amount": "1.00"}),
        )
        .await
        .reply;
        assert_problem(&reply, 422, "currency_mismatch");
        let reply = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": eve_wallet, "amount": "1.00"}),
        )
        .await
        .reply;
        assert_problem(&reply, 404, "not_found");
        // Funds.
        let reply = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": payload, "wallet": bo_wallet, "amount": "500.00"}),
        )
        .await
        .reply;
        assert_problem(&reply, 402, "insufficient_funds");
        // Idempotency-Key is required.
        let reply = signed_post(
            base,
            "/v1/payments",
            &bo.token,
            &bo.phone,
            &body(&payload),
            &[],
        )
        .await
        .reply;
        assert_problem(&reply, 400, "idempotency_key_missing");

        // Inactive merchant.
        let off = crate::transfers::post_auth(
            base,
            &format!("/v1/merchants/{}/deactivate", shop.id),
            &shop.owner.token,
            &json!({}),
        )
        .await;
        assert_eq!(off.status, 200);
        let reply = pay(base, &bo, &new_key(), &body(&payload)).await.reply;
        assert_problem(&reply, 422, "merchant_inactive");

        // Nothing moved but the one good payment.
        assert_eq!(balance(base, &bo, &bo_wallet).await, "4.00");
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

/// Sends `attempt` every 250 ms until it is answered other than 201, and returns that answer;
/// fails when that took longer than `bound`.
async fn first_refusal<F, Fut>(bound: std::time::Duration, mut attempt: F) -> crate::util::Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::util::Reply>,
{
    let started = std::time::Instant::now();
    loop {
        let reply = attempt().await;
        if reply.status != 201 {
            return reply;
        }
        assert!(
            started.elapsed() <= bound,
            "still accepted {:?} after the change: {}",
            started.elapsed(),
            reply.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[actix_rt::test]
async fn two_processes_pay_once_charge_once_and_cap_refunds() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "two_processes_payments") else {
            continue;
        };
        let base = server.base.as_str();
        let mut db = crate::util::TestDb::new(backend, "two_processes_payments_second")
            .expect("the backend was reachable a moment ago");
        db.config = server.db().config.clone();
        let second = crate::util::TestServer::start_on(db, "two_processes_payments_second")
            .expect("second server");
        let other = second.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "100.00").await;
        let (cy, cy_wallet) = payer(base, "cy@example.com", 3, "100.00").await;

        // A dynamic code paid at once through both processes: exactly one payment.
        for round in 0..3 {
            let code = qr_payload(base, &shop, &json!({"amount": "2.00"})).await;
            let (kb, kc) = (new_key(), new_key());
            let body_b = json!({"payload": code, "wallet": bo_wallet});
            let body_c = json!({"payload": code, "wallet": cy_wallet});
            let (b, c) = tokio::join!(pay(base, &bo, &kb, &body_b), pay(other, &cy, &kc, &body_c));
            let statuses = [b.reply.status, c.reply.status];
            assert!(
                statuses.contains(&201) && statuses.contains(&409),
                "{backend:?} round {round}: {} / {}",
                b.reply.text,
                c.reply.text
            );
        }
        // A pay code charged at once through both processes: exactly one charge.
        for counter in 1..=3u32 {
            let code = crate::charges::paycode_of(&bo.phone.secret, counter, 0, None);
            let body = crate::charges::charge_body(&code, "1.00");
            let (k1, k2) = (new_key(), new_key());
            let (a, b) = tokio::join!(
                bearer_call(
                    base,
                    "POST",
                    "/v1/charges",
                    &shop.pos,
                    Some(&k1),
                    Some(&body)
                ),
                bearer_call(
                    other,
                    "POST",
                    "/v1/charges",
                    &shop.pos,
                    Some(&k2),
                    Some(&body)
                )
            );
            let statuses = [a.status, b.status];
            assert!(
                statuses.contains(&201) && statuses.contains(&409),
                "{} / {}",
                a.text,
                b.text
            );
        }
        // Refunds of one payment through both processes never pass it.
        let code = qr_payload(base, &shop, &json!({"amount": "10.00"})).await;
        let paid = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": code, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let body = json!({"payment": paid.json["id"], "amount": "3.00"});
        let keys: Vec<String> = (0..8).map(|_| new_key()).collect();
        let replies = futures_util::future::join_all(keys.iter().enumerate().map(|(i, key)| {
            let at = if i % 2 == 0 { base } else { other };
            bearer_call(at, "POST", "/v1/refunds", &shop.pos, Some(key), Some(&body))
        }))
        .await;
        assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 3);
        assert_eq!(
            replies
                .iter()
                .filter(|r| r.json["code"] == "refund_exceeds_payment")
                .count(),
            5
        );
        // Money conserved: 6 + 3 + 10 - 9 paid in, all of it out of the two payers.
        let bo_left: rust_decimal::Decimal = balance(base, &bo, &bo_wallet).await.parse().unwrap();
        let cy_left: rust_decimal::Decimal = balance(other, &cy, &cy_wallet).await.parse().unwrap();
        assert_eq!(bo_left + cy_left, rust_decimal::Decimal::new(19_000, 2));

        // Both processes keep the devices and POS keys they read for a few seconds
        // (`purse_server::recent`): a revocation through one is refused there at once and by
        // the other within that bound. Bo's device and the POS key were used on both above.
        let bound = purse_server::recent::TTL + std::time::Duration::from_secs(2);
        let charge_at = |at: &str, counter: u32| {
            let code = crate::charges::paycode_of(&bo.phone.secret, counter, 0, None);
            let body = crate::charges::charge_body(&code, "1.00");
            let (at, pos, key) = (at.to_owned(), shop.pos.clone(), new_key());
            async move { bearer_call(&at, "POST", "/v1/charges", &pos, Some(&key), Some(&body)).await }
        };
        let warm = charge_at(other, 9).await;
        assert_eq!(warm.status, 201, "{}", warm.text);
        crate::charges::revoke_device(base, &bo).await;
        assert_problem(&charge_at(base, 10).await, 403, "device_revoked");
        let mut counter = 10;
        let refused = first_refusal(bound, || {
            counter += 1;
            charge_at(other, counter)
        })
        .await;
        assert_problem(&refused, 403, "device_revoked");

        let keys = get_auth(
            base,
            &format!("/v1/merchants/{}/api-keys", shop.id),
            &shop.owner.token,
        )
        .await;
        let api_key_id = keys.json["data"][0]["id"].as_str().unwrap().to_owned();
        let warm = make_qr(other, &shop.pos, &shop.id, &json!({})).await;
        assert_eq!(warm.status, 201, "{}", warm.text);
        let revoked = bearer_call(
            base,
            "DELETE",
            &format!("/v1/merchants/{}/api-keys/{api_key_id}", shop.id),
            &shop.owner.token,
            None,
            None,
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        let no_body = json!({});
        let here = make_qr(base, &shop.pos, &shop.id, &no_body).await;
        assert_problem(&here, 401, "pos_key_invalid");
        let refused = first_refusal(bound, || make_qr(other, &shop.pos, &shop.id, &no_body)).await;
        assert_problem(&refused, 401, "pos_key_invalid");
        drop(second);
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}

#[actix_rt::test]
async fn payments_whose_money_moved_before_a_crash_are_settled_at_start() {
    use purse_server::with_db;
    for backend in BACKENDS {
        let Some(server) = start(backend, "payments_settled_at_start") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (bo, bo_wallet) = payer(base, "bo@example.com", 2, "10.00").await;
        let code = qr_payload(base, &shop, &json!({"amount": "2.00"})).await;
        let paid = pay(
            base,
            &bo,
            &new_key(),
            &json!({"payload": code, "wallet": bo_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);
        let paycode = crate::charges::paycode_of(&bo.phone.secret, 1, 0, None);
        let charged = crate::charges::charge(
            base,
            &shop,
            &new_key(),
            &crate::charges::charge_body(&paycode, "1.00"),
        )
        .await;
        assert_eq!(charged.status, 201, "{}", charged.text);
        let (pay_id, chg_id) = (
            paid.json["id"].as_str().unwrap(),
            charged.json["id"].as_str().unwrap(),
        );
        // What a crash between the ledger's commit and the row's update leaves: money moved, the
        // rows still pending.
        let db = server.db().open().await;
        with_db!(&db, pool => {
            for (table, id) in [("payments", pay_id), ("charges", chg_id)] {
                sqlx::query(&format!(
                    "UPDATE {table} SET status = 'pending', transfer_id = NULL, created_at_ms = 1 \
                     WHERE id = $1"
                ))
                .bind(id)
                .execute(pool)
                .await
                .expect("unsettle");
            }
        });
        db.close().await;
        let pay_path = format!("/v1/payments/{pay_id}");
        assert_problem(
            &get_auth(base, &pay_path, &bo.token).await,
            404,
            "not_found",
        );

        let mut second_db = crate::util::TestDb::new(backend, "payments_settled_at_start_second")
            .expect("the backend was reachable a moment ago");
        second_db.config = server.db().config.clone();
        let second =
            crate::util::TestServer::start_on(second_db, "payments_settled_at_start_second")
                .expect("second server");
        let mut read = get_auth(&second.base, &pay_path, &bo.token).await;
        for _ in 0..100 {
            if read.status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            read = get_auth(&second.base, &pay_path, &bo.token).await;
        }
        // The same payment and transfer (created_at_ms is the one the test aged).
        let mut expected = paid.json.clone();
        expected["created_at_ms"] = json!(1);
        assert_eq!(read.json, expected, "{backend:?}");
        let mut receipt = bearer_call(
            &second.base,
            "GET",
            &format!("/v1/charges/{chg_id}"),
            &shop.pos,
            None,
            None,
        )
        .await;
        for _ in 0..100 {
            if receipt.status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            receipt = bearer_call(
                &second.base,
                "GET",
                &format!("/v1/charges/{chg_id}"),
                &shop.pos,
                None,
                None,
            )
            .await;
        }
        let mut expected = charged.json.clone();
        expected["created_at_ms"] = json!(1);
        assert_eq!(receipt.json, expected);
        assert_eq!(balance(base, &bo, &bo_wallet).await, "7.00");
        drop(second);
        let out = server.purse(&["ledger", "verify"]);
        assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    }
}
