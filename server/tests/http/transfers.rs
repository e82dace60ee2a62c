//! P2P transfers over real HTTP on SQLite and PostgreSQL: to a wallet id, an email and a phone;
//! every refusal with its code (funds, same wallet, currencies, recipients, amounts, memo,
//! ownership, signature, key); per-transfer and daily limits; and `GET /v1/transfers/{id}` for
//! its two parties only. Also the helpers the wallets, idempotency and concurrency tests share.

use serde_json::{Value, json};

use crate::identity::{Phone, call, nonce, phone, sign, signup, token};
use crate::util::{BACKENDS, Backend, Reply, TestServer, assert_problem, client, read};

/// The operator token the tests fund wallets with (`/v1/admin/fund`).
pub const ADMIN_TOKEN: &str = "operator-token-for-transfer-tests-0123456789";

/// A server with the admin API on, so tests can fund wallets.
pub fn start(backend: Backend, test: &str) -> Option<TestServer> {
    start_with(backend, test, |_| {})
}

pub fn start_with(
    backend: Backend,
    test: &str,
    adjust: impl FnOnce(&mut purse_server::config::Config),
) -> Option<TestServer> {
    TestServer::start_with(backend, test, |config| {
        config.admin_token = Some(ADMIN_TOKEN.to_owned());
        adjust(config);
    })
}

/// A signed-up user with one registered device.
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub token: String,
    pub phone: Phone,
}

/// Signs up `email` and registers a device derived from `seed` (unique per server).
pub async fn member(base: &str, email: &str, seed: u8) -> Member {
    let tokens = signup(base, email).await;
    let token = token(&tokens).to_owned();
    let phone = phone(base, &token, seed).await;
    Member {
        user_id: tokens["user_id"].as_str().expect("user_id").to_owned(),
        email: email.to_owned(),
        token,
        phone,
    }
}

pub async fn get_auth(base: &str, path: &str, token: &str) -> Reply {
    call(base, "GET", path, Some(token), &[], None).await.reply
}

/// `POST` with a bearer token (no device signature).
pub async fn post_auth(base: &str, path: &str, token: &str, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).expect("json");
    call(base, "POST", path, Some(token), &[], Some(&bytes))
        .await
        .reply
}

/// Opens `who`'s wallet in `currency` and returns its id.
pub async fn open_wallet(base: &str, who: &Member, currency: &str) -> String {
    let reply = post_auth(
        base,
        "/v1/wallets",
        &who.token,
        &json!({"currency": currency}),
    )
    .await;
    assert!(reply.status == 201 || reply.status == 200, "{}", reply.text);
    reply.json["id"].as_str().expect("wallet id").to_owned()
}

/// Credits `wallet` with `amount` through the operator API.
pub async fn fund(base: &str, wallet: &str, amount: &str) {
    let reply = read(
        client()
            .post(format!("{base}/v1/admin/fund"))
            .insert_header(("authorization", format!("Bearer {ADMIN_TOKEN}")))
            .send_json(&json!({"wallet_id": wallet, "amount": amount}))
            .await
            .expect("fund sent"),
    )
    .await;
    assert_eq!(reply.status, 200, "funding: {}", reply.text);
}

/// The balance of `who`'s `wallet` as the API reports it.
pub async fn balance(base: &str, who: &Member, wallet: &str) -> String {
    let reply = get_auth(base, &format!("/v1/wallets/{wallet}"), &who.token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["balance"].as_str().expect("balance").to_owned()
}

/// The answer to a `POST /v1/transfers`.
pub struct Sent {
    pub reply: Reply,
    /// `Idempotent-Replayed: true` was set.
    pub replayed: bool,
    pub retry_after: Option<String>,
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

/// A signed `POST /v1/transfers` of the exact `bytes` under `key` (no key header when `None`),
/// through `client` (tests that send many share one, so connections are reused).
pub async fn send_via(
    client: &awc::Client,
    base: &str,
    who: &Member,
    key: Option<&str>,
    bytes: &[u8],
) -> Sent {
    try_send_via(client, base, who, key, bytes)
        .await
        .expect("sent")
}

/// [`send_via`] that hands back a failure to send or to read the answer (a server killed
/// mid-request) instead of panicking.
pub async fn try_send_via(
    client: &awc::Client,
    base: &str,
    who: &Member,
    key: Option<&str>,
    bytes: &[u8],
) -> Result<Sent, awc::error::SendRequestError> {
    try_signed_post(client, base, "/v1/transfers", who, key, bytes).await
}

/// A device-signed `POST` of the exact `bytes` to `path` under `key`, handing back a failure to
/// send or to read the answer instead of panicking.
pub async fn try_signed_post(
    client: &awc::Client,
    base: &str,
    path: &str,
    who: &Member,
    key: Option<&str>,
    bytes: &[u8],
) -> Result<Sent, awc::error::SendRequestError> {
    let headers = sign(
        &who.phone.secret,
        &who.phone.device_id,
        "POST",
        path,
        bytes,
        now_ms(),
        &nonce(),
    );
    let mut request = client
        .post(format!("{base}{path}"))
        .insert_header(("authorization", format!("Bearer {}", who.token)))
        .insert_header(("content-type", "application/json"));
    for (name, value) in headers {
        request = request.insert_header((name, value));
    }
    if let Some(key) = key {
        request = request.insert_header(("idempotency-key", key));
    }
    let mut response = request.send_body(bytes.to_vec()).await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let replayed = header("idempotent-replayed").as_deref() == Some("true");
    let retry_after = header("retry-after");
    // Read the body here rather than with `read`, which panics on a connection cut mid-body.
    let status = response.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let body = response
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .map_err(|err| awc::error::SendRequestError::Custom(Box::new(err), Box::new("body")))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Sent {
        reply: Reply {
            status,
            content_type,
            text,
            json,
        },
        replayed,
        retry_after,
    })
}

/// A signed `POST /v1/transfers` of `body` under `key` (no key header when `None`).
pub async fn send(base: &str, who: &Member, key: Option<&str>, body: &Value) -> Sent {
    let bytes = serde_json::to_vec(body).expect("json");
    send_via(&client(), base, who, key, &bytes).await
}

/// A fresh random idempotency key.
pub fn new_key() -> String {
    purse_server::ids::new_id(purse_server::ids::IdKind::Session)
}

/// A transfer body in USD.
pub fn usd(from: &str, to: Value, amount: &str) -> Value {
    json!({"from_wallet": from, "to": to, "amount": amount, "currency": "USD"})
}

#[actix_rt::test]
async fn transfers_to_wallet_email_and_phone_and_read_by_parties_only() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "transfers_to_wallet_email_and_phone") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let eve = member(base, "eve@example.com", 3).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_usd, "100.00").await;

        // To a wallet id, with a memo.
        let mut body = usd(&ana_usd, json!(bo_usd), "12.50");
        body["memo"] = json!("lunch 🍜");
        let sent = send(base, &ana, Some(&new_key()), &body).await.reply;
        assert_eq!(sent.status, 201, "{backend:?}: {}", sent.text);
        let txn = sent.json["id"].as_str().expect("id").to_owned();
        assert!(txn.starts_with("txn_"), "{txn}");
        assert_eq!(sent.json["kind"], "p2p");
        assert_eq!(sent.json["from"], ana_usd.as_str());
        assert_eq!(sent.json["to"], bo_usd.as_str());
        assert_eq!(sent.json["amount"], "12.50");
        assert_eq!(sent.json["currency"], "USD");
        assert_eq!(sent.json["memo"], "lunch 🍜");
        assert!(sent.json["created_at_ms"].as_i64().expect("time") > 0);
        assert_eq!(balance(base, &ana, &ana_usd).await, "87.50");
        assert_eq!(balance(base, &bo, &bo_usd).await, "12.50");

        // Both parties read it; anyone else gets the same 404 as for a missing transfer.
        for who in [&ana, &bo] {
            let got = get_auth(base, &format!("/v1/transfers/{txn}"), &who.token).await;
            assert_eq!(got.status, 200, "{}", got.text);
            assert_eq!(got.json, sent.json);
        }
        let foreign = get_auth(base, &format!("/v1/transfers/{txn}"), &eve.token).await;
        assert_problem(&foreign, 404, "not_found");
        let missing = get_auth(
            base,
            "/v1/transfers/txn_000000000000000000000000",
            &ana.token,
        )
        .await;
        assert_problem(&missing, 404, "not_found");
        assert_eq!(foreign.json["detail"], missing.json["detail"]);
        let malformed = get_auth(base, "/v1/transfers/nonsense", &ana.token).await;
        assert_problem(&malformed, 404, "not_found");
        let anonymous = read(
            client()
                .get(server.url(&format!("/v1/transfers/{txn}")))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(anonymous.status, 401, "{}", anonymous.text);

        // To a person by email (any letter case): their existing USD wallet is credited.
        let by_email = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!({"email": "BO@example.com"}), "1.25"),
        )
        .await
        .reply;
        assert_eq!(by_email.status, 201, "{}", by_email.text);
        assert_eq!(by_email.json["to"], bo_usd.as_str());
        assert_eq!(balance(base, &bo, &bo_usd).await, "13.75");

        // To a person by phone who has no USD wallet yet: it is opened for them.
        let tokens = crate::util::post_json(
            &server.url("/v1/auth/signup"),
            &json!({"phone": "+1 415 555 0199", "password": crate::identity::PASSWORD}),
        )
        .await;
        assert_eq!(tokens.status, 201, "{}", tokens.text);
        let cy_token = tokens.json["access_token"].as_str().unwrap().to_owned();
        let by_phone = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!({"phone": "+14155550199"}), "2.00"),
        )
        .await
        .reply;
        assert_eq!(by_phone.status, 201, "{}", by_phone.text);
        let cy_wallets = get_auth(base, "/v1/wallets", &cy_token).await;
        assert_eq!(cy_wallets.json["data"][0]["id"], by_phone.json["to"]);
        assert_eq!(cy_wallets.json["data"][0]["balance"], "2.00");
        assert_eq!(balance(base, &ana, &ana_usd).await, "84.25");

        // The recipient reads the transfer too.
        let id = by_phone.json["id"].as_str().unwrap();
        let got = get_auth(base, &format!("/v1/transfers/{id}"), &cy_token).await;
        assert_eq!(got.status, 200, "{}", got.text);

        // Funding transfers are readable by the funded wallet's owner.
        let history = get_auth(
            base,
            &format!("/v1/wallets/{ana_usd}/transactions?limit=100"),
            &ana.token,
        )
        .await;
        let funding = history.json["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|t| t["kind"] == "issuance")
            .expect("the funding transfer")
            .clone();
        let got = get_auth(
            base,
            &format!("/v1/transfers/{}", funding["id"].as_str().unwrap()),
            &ana.token,
        )
        .await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(got.json["to"], ana_usd.as_str());
    }
}

#[actix_rt::test]
async fn transfer_refusals_have_their_codes_and_move_nothing() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "transfer_refusals") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let ana_eur = open_wallet(base, &ana, "EUR").await;
        let ana_jpy = open_wallet(base, &ana, "JPY").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        let bo_eur = open_wallet(base, &bo, "EUR").await;
        fund(base, &ana_usd, "10.00").await;
        fund(base, &ana_eur, "10.00").await;
        fund(base, &ana_jpy, "1000").await;
        let to_bo = json!(bo_usd);

        let cases: Vec<(Value, u16, &str)> = vec![
            (
                usd(&ana_usd, to_bo.clone(), "10.01"),
                402,
                "insufficient_funds",
            ),
            (usd(&ana_usd, json!(ana_usd), "1.00"), 422, "same_wallet"),
            (
                usd(&ana_usd, json!({"email": "ana@example.com"}), "1.00"),
                422,
                "same_wallet",
            ),
            // The request's currency is not the sending wallet's.
            (
                json!({"from_wallet": ana_eur, "to": bo_eur, "amount": "1.00", "currency": "USD"}),
                422,
                "currency_mismatch",
            ),
            // The receiving wallet holds another currency.
            (
                usd(&ana_usd, json!(bo_eur), "1.00"),
                422,
                "currency_mismatch",
            ),
            (
                usd(&ana_usd, json!("wal_000000000000000000000000"), "1.00"),
                422,
                "recipient_not_found",
            ),
            (
                usd(&ana_usd, json!({"email": "nobody@example.com"}), "1.00"),
                422,
                "recipient_not_found",
            ),
            (
                usd(&ana_usd, json!({"phone": "+14155550123"}), "1.00"),
                422,
                "recipient_not_found",
            ),
            (usd(&ana_usd, json!("bo"), "1.00"), 400, "recipient_invalid"),
            (usd(&ana_usd, json!({}), "1.00"), 400, "login_id_missing"),
            (
                usd(&ana_usd, json!({"email": "not an email"}), "1.00"),
                400,
                "email_invalid",
            ),
            (
                usd(
                    &ana_usd,
                    json!({"email": "bo@example.com", "phone": "+14155550123"}),
                    "1",
                ),
                400,
                "login_id_ambiguous",
            ),
            (
                usd(&ana_usd, to_bo.clone(), "1.005"),
                400,
                "amount_too_precise",
            ),
            (
                usd(&ana_usd, to_bo.clone(), "0.00"),
                400,
                "amount_not_positive",
            ),
            (
                usd(&ana_usd, to_bo.clone(), "-1.00"),
                400,
                "amount_not_positive",
            ),
            (usd(&ana_usd, to_bo.clone(), "1e3"), 400, "amount_malformed"),
            (
                usd(&ana_usd, to_bo.clone(), "10000000000000.01"),
                400,
                "amount_too_large",
            ),
            (
                json!({"from_wallet": ana_jpy, "to": bo_usd, "amount": "1.5", "currency": "JPY"}),
                400,
                "amount_too_precise",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": "1.00", "currency": "usd"}),
                400,
                "currency_unknown",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": "1.00", "currency": "ABC"}),
                400,
                "currency_unknown",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": "1.00", "currency": "USD", "memo": "x".repeat(281)}),
                400,
                "memo_too_long",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": "1.00", "currency": "USD", "memo": "a\u{0}b"}),
                400,
                "memo_invalid",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": 1.0, "currency": "USD"}),
                400,
                "body_invalid",
            ),
            (
                json!({"from_wallet": ana_usd, "to": bo_usd, "amount": "1.00", "currency": "USD", "extra": 1}),
                400,
                "body_invalid",
            ),
            // Someone else's wallet is a 404, exactly like a missing one.
            (usd(&bo_usd, json!(ana_usd), "1.00"), 404, "not_found"),
            (
                usd("wal_000000000000000000000000", json!(ana_usd), "1.00"),
                404,
                "not_found",
            ),
            (usd("nonsense", json!(ana_usd), "1.00"), 404, "not_found"),
        ];
        for (body, status, code) in cases {
            let reply = send(base, &ana, Some(&new_key()), &body).await.reply;
            assert_problem(&reply, status, code);
            assert!(
                reply.json["detail"].is_string(),
                "{backend:?} {code}: {}",
                reply.text
            );
        }
        // A 280-character memo (counted in characters, not bytes) is fine.
        let mut body = usd(&ana_usd, to_bo.clone(), "0.01");
        body["memo"] = json!("é".repeat(280));
        let ok = send(base, &ana, Some(&new_key()), &body).await.reply;
        assert_eq!(ok.status, 201, "{}", ok.text);

        // Nothing else moved.
        assert_eq!(balance(base, &ana, &ana_usd).await, "9.99");
        assert_eq!(balance(base, &ana, &ana_eur).await, "10.00");
        assert_eq!(balance(base, &bo, &bo_usd).await, "0.01");
        assert_eq!(balance(base, &bo, &bo_eur).await, "0.00");

        // No Idempotency-Key, or a malformed one: 400 before anything runs.
        let reply = send(base, &ana, None, &usd(&ana_usd, to_bo.clone(), "1.00"))
            .await
            .reply;
        assert_problem(&reply, 400, "idempotency_key_missing");
        for bad in ["", "has space", &"k".repeat(129)] {
            let reply = send(base, &ana, Some(bad), &usd(&ana_usd, to_bo.clone(), "1.00"))
                .await
                .reply;
            assert_problem(&reply, 400, "idempotency_key_invalid");
        }

        // A bearer token alone cannot move money: the device signature is required.
        let unsigned = read(
            client()
                .post(server.url("/v1/transfers"))
                .insert_header(("authorization", format!("Bearer {}", ana.token)))
                .insert_header(("idempotency-key", new_key()))
                .send_json(&usd(&ana_usd, to_bo.clone(), "1.00"))
                .await
                .expect("sent"),
        )
        .await;
        assert_problem(&unsigned, 401, "device_signature_missing");
        // Bo's device cannot sign for Ana's token.
        let stolen = Member {
            user_id: ana.user_id.clone(),
            email: ana.email.clone(),
            token: ana.token.clone(),
            phone: Phone {
                secret: purse_core::keys::SecretKey::from_bytes(&[9; 32]),
                device_id: bo.phone.device_id.clone(),
            },
        };
        assert_ne!(
            stolen.phone.secret.public_key(),
            bo.phone.secret.public_key()
        );
        let reply = send(
            base,
            &stolen,
            Some(&new_key()),
            &usd(&ana_usd, to_bo, "1.00"),
        )
        .await
        .reply;
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert_eq!(balance(base, &ana, &ana_usd).await, "9.99");
    }
}

/// The exact signed request `headers` (one signature, one nonce) sent again under `key`.
async fn resend(
    base: &str,
    who: &Member,
    headers: &[(&str, String)],
    key: &str,
    bytes: &[u8],
) -> Reply {
    let mut headers = headers.to_vec();
    headers.push(("idempotency-key", key.to_owned()));
    call(
        base,
        "POST",
        "/v1/transfers",
        Some(&who.token),
        &headers,
        Some(bytes),
    )
    .await
    .reply
}

/// A P2P transfer's nonce commits with its money, not before it (`SignedDeviceDeferred`): a
/// captured signed request replayed under its own key, under a new key, or many times at once
/// moves nothing more and is `device_signature_replayed`; the signature of a request that was
/// refused (before the ledger, or by it) cannot be replayed later when it would succeed, and
/// leaves no trace (not the recipient's wallet a transfer to a person opens); and a key a replay
/// was refused under is not taken.
#[actix_rt::test]
async fn a_replayed_transfer_signature_moves_nothing_whatever_its_key() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "replayed_transfer_signature") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_usd, "10.00").await;
        let signed = |bytes: &[u8]| {
            sign(
                &ana.phone.secret,
                &ana.phone.device_id,
                "POST",
                "/v1/transfers",
                bytes,
                now_ms(),
                &nonce(),
            )
        };

        // The original, then its exact replay under the same key and under fresh ones.
        let body = serde_json::to_vec(&usd(&ana_usd, json!(bo_usd), "1.00")).unwrap();
        let headers = signed(&body);
        let key = new_key();
        let first = resend(base, &ana, &headers, &key, &body).await;
        assert_eq!(first.status, 201, "{backend:?}: {}", first.text);
        let again = resend(base, &ana, &headers, &key, &body).await;
        assert_problem(&again, 401, "device_signature_replayed");
        let other_key = new_key();
        let replay = resend(base, &ana, &headers, &other_key, &body).await;
        assert_problem(&replay, 401, "device_signature_replayed");
        assert_eq!(balance(base, &ana, &ana_usd).await, "9.00");
        // The refused replay did not take its key: a genuine request under it goes through.
        let genuine = resend(base, &ana, &signed(&body), &other_key, &body).await;
        assert_eq!(genuine.status, 201, "{backend:?}: {}", genuine.text);
        assert_ne!(genuine.json["id"], first.json["id"]);
        assert_eq!(balance(base, &ana, &ana_usd).await, "8.00");

        // A fresh signed request sent 8 times at once, each under its own key: it moves once.
        let headers = signed(&body);
        let keys: Vec<String> = (0..8).map(|_| new_key()).collect();
        let replies = futures_util::future::join_all(
            keys.iter()
                .map(|key| resend(base, &ana, &headers, key, &body)),
        )
        .await;
        let moved = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(
            moved,
            1,
            "{backend:?}: {:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for reply in replies.iter().filter(|r| r.status != 201) {
            assert_problem(reply, 401, "device_signature_replayed");
        }
        assert_eq!(balance(base, &ana, &ana_usd).await, "7.00");

        // Refused by the wallet (too little money) and refused before the ledger (no such
        // recipient yet): once the refusal no longer holds, the old signatures still do nothing.
        let big = serde_json::to_vec(&usd(&ana_usd, json!(bo_usd), "50.00")).unwrap();
        let big_headers = signed(&big);
        let short = resend(base, &ana, &big_headers, &new_key(), &big).await;
        assert_problem(&short, 402, "insufficient_funds");
        let to_cy =
            serde_json::to_vec(&usd(&ana_usd, json!({"email": "cy@example.com"}), "1.00")).unwrap();
        let cy_headers = signed(&to_cy);
        let nobody = resend(base, &ana, &cy_headers, &new_key(), &to_cy).await;
        assert_problem(&nobody, 422, "recipient_not_found");
        fund(base, &ana_usd, "100.00").await;
        let cy = member(base, "cy@example.com", 3).await;
        let replay = resend(base, &ana, &big_headers, &new_key(), &big).await;
        assert_problem(&replay, 401, "device_signature_replayed");
        let replay = resend(base, &ana, &cy_headers, &new_key(), &to_cy).await;
        assert_problem(&replay, 401, "device_signature_replayed");
        assert_eq!(balance(base, &ana, &ana_usd).await, "107.00");
        assert_eq!(balance(base, &bo, &bo_usd).await, "3.00");
        // The replay naming Cy left no trace: not even the wallet a transfer to her would open.
        let cy_wallets = get_auth(base, "/v1/wallets", &cy.token).await;
        assert_eq!(cy_wallets.status, 200, "{}", cy_wallets.text);
        assert_eq!(
            cy_wallets.json["data"],
            json!([]),
            "{backend:?}: {}",
            cy_wallets.text
        );
    }
}

#[actix_rt::test]
async fn per_transfer_and_daily_limits() {
    for backend in BACKENDS {
        let Some(server) = start_with(backend, "per_transfer_and_daily_limits", |config| {
            config.limits.transfer_max = Some("100.00".parse().unwrap());
            config.limits.daily_max = Some("150.00".parse().unwrap());
        }) else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let ana_eur = open_wallet(base, &ana, "EUR").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        let bo_eur = open_wallet(base, &bo, "EUR").await;
        fund(base, &ana_usd, "1000.00").await;
        fund(base, &ana_eur, "1000.00").await;
        fund(base, &bo_usd, "1000.00").await;

        let over = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "100.01"),
        )
        .await
        .reply;
        assert_problem(&over, 422, "transfer_limit_exceeded");
        let at = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "100.00"),
        )
        .await
        .reply;
        assert_eq!(at.status, 201, "{}", at.text);
        let past_day = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "50.01"),
        )
        .await
        .reply;
        assert_problem(&past_day, 422, "daily_limit_exceeded");
        // Refusals do not use up the limit: exactly the rest still goes.
        let rest = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "50.00"),
        )
        .await
        .reply;
        assert_eq!(rest.status, 201, "{}", rest.text);
        let more = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "0.01"),
        )
        .await
        .reply;
        assert_problem(&more, 422, "daily_limit_exceeded");
        // A failed transfer (insufficient funds) gives its reservation back.
        let poor = member(base, "cy@example.com", 3).await;
        let poor_usd = open_wallet(base, &poor, "USD").await;
        fund(base, &poor_usd, "100.00").await;
        let all = send(
            base,
            &poor,
            Some(&new_key()),
            &usd(&poor_usd, json!(bo_usd), "100.00"),
        )
        .await
        .reply;
        assert_eq!(all.status, 201, "{}", all.text);
        let broke = send(
            base,
            &poor,
            Some(&new_key()),
            &usd(&poor_usd, json!(bo_usd), "0.01"),
        )
        .await
        .reply;
        assert_problem(&broke, 402, "insufficient_funds");
        fund(base, &poor_usd, "100.00").await;
        let fifty = send(
            base,
            &poor,
            Some(&new_key()),
            &usd(&poor_usd, json!(bo_usd), "50.00"),
        )
        .await
        .reply;
        assert_eq!(fifty.status, 201, "{}", fifty.text);

        // The daily limit is per currency and per user.
        let eur =
            json!({"from_wallet": ana_eur, "to": bo_eur, "amount": "100.00", "currency": "EUR"});
        let reply = send(base, &ana, Some(&new_key()), &eur).await.reply;
        assert_eq!(reply.status, 201, "{}", reply.text);
        // A retry of a transfer that went through is not counted twice (on PostgreSQL a retry
        // to a wallet id runs again and is answered from the ledger).
        let key = new_key();
        let sixty = usd(&bo_usd, json!(ana_usd), "60.00");
        let first = send(base, &bo, Some(&key), &sixty).await.reply;
        assert_eq!(first.status, 201, "{}", first.text);
        let retry = send(base, &bo, Some(&key), &sixty).await.reply;
        assert_eq!(retry.status, 201, "{}", retry.text);
        assert_eq!(retry.json["id"], first.json["id"]);
        let forty = usd(&bo_usd, json!(ana_usd), "40.00");
        let reply = send(base, &bo, Some(&new_key()), &forty).await.reply;
        assert_eq!(reply.status, 201, "{backend:?}: {}", reply.text);
        assert_eq!(balance(base, &ana, &ana_usd).await, "950.00");

        // A second server process on the same database counts what the first one sent today.
        let mut db = crate::util::TestDb::new(backend, "limits_second")
            .expect("the backend was reachable a moment ago");
        db.config = server.db().config.clone();
        let second = TestServer::start_on(db, "limits_second").expect("second server");
        let reply = send(
            &second.base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "0.01"),
        )
        .await
        .reply;
        assert_problem(&reply, 422, "daily_limit_exceeded");
        let reply = send(
            &second.base,
            &bo,
            Some(&new_key()),
            &usd(&bo_usd, json!(ana_usd), "50.00"),
        )
        .await
        .reply;
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
}
