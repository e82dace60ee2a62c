//! Attack tests over real HTTP on SQLite and PostgreSQL (docs/security.md lists what each proves):
//! every route of the OpenAPI document refuses another user's resources with 404 (the table is
//! driven by `/openapi.json`, so a new route without a case fails), oversized bodies are 413 on
//! every POST and PUT (also those that read no body), SQL-shaped and NUL-bearing text in every
//! text field is stored verbatim or refused with a clear 4xx (never 500), and no secret reaches
//! the server's logs during a full flow. JWT attacks, refresh reuse, device signature replay /
//! stale / wrong key and login back-off are in `identity.rs`; provider webhook signatures in
//! `topups.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::charges::{charge, charge_body, paycode_of};
use crate::identity::{Full, signed_post};
use crate::merchants::{Shop, bearer_call, shop};
use crate::payments::{pay, qr_payload};
use crate::transfers::{
    Member, fund, get_auth, member, new_key, open_wallet, post_auth, send, start, usd,
};
use crate::util::{BACKENDS, Reply, TestServer, client, read};

// --- helpers -------------------------------------------------------------------------------------

/// Any method, optional bearer, optional raw body.
async fn raw(
    base: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Reply {
    let url = format!("{base}{path}");
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client().request(method, &url);
    if let Some(bearer) = bearer {
        request = request.insert_header(("authorization", format!("Bearer {bearer}")));
    }
    for (name, value) in headers {
        request = request.insert_header((*name, value.clone()));
    }
    let response = match body {
        Some(body) => {
            request
                .insert_header(("content-type", "application/json"))
                .send_body(body)
                .await
        }
        None => request.send().await,
    };
    match response {
        Ok(response) => read(response).await,
        // The server may close the connection after answering 413 before reading everything.
        Err(err) => Reply {
            status: 0,
            content_type: String::new(),
            text: err.to_string(),
            json: Value::Null,
        },
    }
}

/// The `(METHOD, path template)` of every operation in the server's OpenAPI document.
async fn openapi_operations(base: &str) -> BTreeSet<(String, String)> {
    let doc = crate::util::get(&format!("{base}/openapi.json")).await;
    assert_eq!(doc.status, 200);
    let mut operations = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() > 40, "{operations:?}");
    operations
}

/// Fills `{name}` segments of an OpenAPI path template from `ids`.
fn fill(template: &str, ids: &BTreeMap<&str, String>) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => ids
                    .get(name)
                    .unwrap_or_else(|| panic!("no id for {{{name}}} in {template}"))
                    .clone(),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Everything a victim owns, and an attacker with resources of their own.
struct World {
    alice: Shop,
    alice_wallet: String,
    mallory: Shop,
    mallory_wallet: String,
    /// Alice's resource ids by OpenAPI path parameter name.
    ids: BTreeMap<&'static str, String>,
    /// Ids of every resource Alice owns or took part in (none may appear in Mallory's lists).
    secrets_of_alice: Vec<String>,
}

async fn world(base: &str) -> World {
    let alice = shop(base, "alice@example.com", 1).await;
    let alice_wallet = open_wallet(base, &alice.owner, "USD").await;
    fund(base, &alice_wallet, "100.00").await;
    let carol = member(base, "carol@example.com", 3).await;
    let carol_wallet = open_wallet(base, &carol, "USD").await;
    fund(base, &carol_wallet, "100.00").await;
    let mallory = shop(base, "mallory@example.com", 2).await;
    let mallory_wallet = open_wallet(base, &mallory.owner, "USD").await;
    fund(base, &mallory_wallet, "100.00").await;

    let sent = send(
        base,
        &alice.owner,
        Some(&new_key()),
        &usd(&alice_wallet, json!(carol_wallet), "1.00"),
    )
    .await;
    assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
    let transfer = sent.reply.json["id"].as_str().unwrap().to_owned();

    let payload = qr_payload(base, &alice, &json!({"amount": "5.00"})).await;
    let paid = pay(
        base,
        &carol,
        &new_key(),
        &json!({"payload": payload, "wallet": carol_wallet}),
    )
    .await;
    assert_eq!(paid.reply.status, 201, "{}", paid.reply.text);
    let payment = paid.reply.json["id"].as_str().unwrap().to_owned();

    let code = paycode_of(&carol.phone.secret, 1, 0, None);
    let charged = charge(base, &alice, &new_key(), &charge_body(&code, "2.00")).await;
    assert_eq!(charged.status, 201, "{}", charged.text);
    let charge_id = charged.json["id"].as_str().unwrap().to_owned();

    let refund = bearer_call(
        base,
        "POST",
        "/v1/refunds",
        &alice.pos,
        Some(&new_key()),
        Some(&json!({"payment": payment, "amount": "1.00"})),
    )
    .await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    let refund_id = refund.json["id"].as_str().unwrap().to_owned();

    let topup = signed_post(
        base,
        "/v1/topups",
        &alice.owner.token,
        &alice.owner.phone,
        &json!({"wallet": alice_wallet, "amount": "20.00", "method": "card"}),
        &[("idempotency-key", new_key())],
    )
    .await;
    assert_eq!(topup.reply.status, 201, "{}", topup.reply.text);
    let topup_id = topup.reply.json["id"].as_str().unwrap().to_owned();

    let key = post_auth(
        base,
        &format!("/v1/merchants/{}/keys", alice.id),
        &alice.owner.token,
        &json!({}),
    )
    .await;
    assert_eq!(key.status, 201, "{}", key.text);
    let key_id = key.json["key_id"].as_str().unwrap().to_owned();
    let api_key = post_auth(
        base,
        &format!("/v1/merchants/{}/api-keys", alice.id),
        &alice.owner.token,
        &json!({"name": "Till 2"}),
    )
    .await;
    assert_eq!(api_key.status, 201, "{}", api_key.text);
    let api_key_id = api_key.json["id"].as_str().unwrap().to_owned();
    let hook = raw(
        base,
        "PUT",
        &format!("/v1/merchants/{}/webhook", alice.id),
        Some(&alice.owner.token),
        &[],
        Some(serde_json::to_vec(&json!({"url": "https://hooks.example.com/purse"})).unwrap()),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);

    let ids = BTreeMap::from([
        ("device_id", alice.owner.phone.device_id.clone()),
        ("wallet_id", alice_wallet.clone()),
        ("transfer_id", transfer.clone()),
        ("merchant_id", alice.id.clone()),
        ("payment_id", payment.clone()),
        ("charge_id", charge_id.clone()),
        ("refund_id", refund_id.clone()),
        ("topup_id", topup_id.clone()),
        ("api_key_id", api_key_id.clone()),
        ("key_id", key_id.clone()),
    ]);
    let mut secrets_of_alice: Vec<String> = ids.values().cloned().collect();
    secrets_of_alice.push(alice.wallet.clone());
    secrets_of_alice.push(alice.owner.user_id.clone());
    World {
        alice,
        alice_wallet,
        mallory,
        mallory_wallet,
        ids,
        secrets_of_alice,
    }
}

/// How Mallory tries a route against Alice's resources.
enum Case {
    /// Each probe must answer 404: (bearer, method, path, body).
    Foreign(Vec<Probe>),
    /// A list scoped to the caller: 200, and none of Alice's ids in it.
    List(String),
    /// No resource of another user is reachable through this route; the reason says why.
    Exempt(&'static str),
}

struct Probe {
    who: Who,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

#[derive(Clone, Copy, Debug)]
enum Who {
    /// Mallory's access token.
    Jwt,
    /// Mallory's POS key (of her own merchant).
    Pos,
    /// Mallory's access token and device signature, plus an Idempotency-Key.
    Signed,
}

fn probe(who: Who, method: &'static str, path: String, body: Option<Value>) -> Probe {
    Probe {
        who,
        method,
        path,
        body,
    }
}

/// The table: one case per OpenAPI operation.
fn cases(w: &World, m: &str, template: &str, mallory_payload: &str) -> Case {
    use Case::*;
    use Who::*;
    // `{key_id}` names a signing key under `/keys` and a POS key under `/api-keys`.
    let mut ids = w.ids.clone();
    if template.contains("/api-keys/") {
        ids.insert("key_id", w.ids["api_key_id"].clone());
    }
    let path = fill(template, &ids);
    let jwt = |method| probe(Jwt, method, path.clone(), None);
    let jwt_body = |method, body: Value| probe(Jwt, method, path.clone(), Some(body));
    let pos = |method| probe(Pos, method, path.clone(), None);
    // The same Alice sub-resource through Mallory's own merchant.
    let mut mine = ids.clone();
    mine.insert("merchant_id", w.mallory.id.clone());
    let through_mine = fill(template, &mine);
    match (m, template) {
        ("GET", "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => {
            Exempt("operations: no user data")
        }
        ("POST", "/v1/auth/signup" | "/v1/auth/login" | "/v1/auth/refresh" | "/v1/auth/logout") => {
            Exempt("the caller's own credentials; refresh reuse in identity.rs")
        }
        ("GET", "/v1/auth/keys") => Exempt("the public token key"),
        ("GET", "/v1/me") => Exempt("the caller only"),
        ("POST", "/v1/devices" | "/v1/wallets" | "/v1/merchants") => {
            Exempt("creates a resource of the caller")
        }
        ("GET", "/v1/devices" | "/v1/wallets" | "/v1/merchants") => List(template.to_owned()),
        ("GET", "/v1/devices/{device_id}")
        | ("GET", "/v1/wallets/{wallet_id}")
        | ("GET", "/v1/wallets/{wallet_id}/transactions")
        | ("GET", "/v1/transfers/{transfer_id}")
        | ("GET", "/v1/topups/{topup_id}")
        | ("GET", "/v1/merchants/{merchant_id}/webhook")
        | ("DELETE", "/v1/merchants/{merchant_id}/webhook")
        | ("GET", "/v1/merchants/{merchant_id}/webhook/deliveries")
        | ("GET", "/v1/merchants/{merchant_id}/api-keys") => Foreign(vec![jwt(m_static(m))]),
        ("POST", "/v1/devices/{device_id}/revoke")
        | ("POST", "/v1/merchants/{merchant_id}/webhook/rotate")
        | ("POST", "/v1/merchants/{merchant_id}/deactivate")
        | ("POST", "/v1/merchants/{merchant_id}/activate") => {
            Foreign(vec![jwt_body("POST", json!({}))])
        }
        ("PUT", "/v1/merchants/{merchant_id}/webhook") => Foreign(vec![jwt_body(
            "PUT",
            json!({"url": "https://evil.example.com/steal"}),
        )]),
        ("POST", "/v1/merchants/{merchant_id}/keys") => Foreign(vec![jwt_body("POST", json!({}))]),
        ("POST", "/v1/merchants/{merchant_id}/api-keys") => {
            Foreign(vec![jwt_body("POST", json!({"name": "stolen"}))])
        }
        ("DELETE", "/v1/merchants/{merchant_id}/keys/{key_id}")
        | ("DELETE", "/v1/merchants/{merchant_id}/api-keys/{key_id}") => Foreign(vec![
            jwt("DELETE"),
            // Alice's key id under Mallory's own merchant.
            probe(Jwt, "DELETE", through_mine, None),
        ]),
        ("GET", "/v1/merchants/{merchant_id}/keys") => {
            Exempt("the public key directory (public by design)")
        }
        ("GET", "/v1/merchants/{merchant_id}") => Foreign(vec![jwt("GET")]),
        ("GET", "/v1/merchants/{merchant_id}/wallet")
        | ("GET", "/v1/merchants/{merchant_id}/wallet/transactions")
        | ("GET", "/v1/payments/{payment_id}")
        | ("GET", "/v1/charges/{charge_id}")
        | ("GET", "/v1/refunds/{refund_id}") => Foreign(vec![jwt("GET"), pos("GET")]),
        ("POST", "/v1/merchants/{merchant_id}/qr") => Foreign(vec![
            jwt_body("POST", json!({"amount": "1.00"})),
            probe(Pos, "POST", path.clone(), Some(json!({"amount": "1.00"}))),
        ]),
        ("GET", "/v1/events") => Foreign(vec![probe(
            Jwt,
            "GET",
            format!("/v1/events?merchant={}&wait=0", w.alice.id),
            None,
        )]),
        ("POST", "/v1/transfers") => Foreign(vec![probe(
            Signed,
            "POST",
            path,
            Some(usd(&w.alice_wallet, json!(w.mallory_wallet), "1.00")),
        )]),
        ("POST", "/v1/payments") => Foreign(vec![probe(
            Signed,
            "POST",
            path,
            Some(json!({"payload": mallory_payload, "wallet": w.alice_wallet})),
        )]),
        ("POST", "/v1/topups") => Foreign(vec![probe(
            Signed,
            "POST",
            path,
            Some(json!({"wallet": w.alice_wallet, "amount": "5.00", "method": "card"})),
        )]),
        ("POST", "/v1/refunds") => {
            let refund = |id: &str| json!({"payment": id, "amount": "0.50"});
            Foreign(vec![
                probe(
                    Jwt,
                    "POST",
                    path.clone(),
                    Some(refund(&w.ids["payment_id"])),
                ),
                probe(
                    Pos,
                    "POST",
                    path.clone(),
                    Some(refund(&w.ids["payment_id"])),
                ),
                probe(Pos, "POST", path, Some(refund(&w.ids["charge_id"]))),
            ])
        }
        ("POST", "/v1/charges") => Exempt(
            "charges the POS key's own merchant; the consumer is proven by the pay code \
             signature (charges.rs)",
        ),
        ("POST", "/v1/providers/sandbox/webhooks") => {
            Exempt("provider signature, no user (topups.rs)")
        }
        ("POST", "/v1/admin/fund") | ("GET", "/v1/admin/risk-rejections") => {
            Exempt("operator token only")
        }
        _ => panic!(
            "no cross-user case for {m} {template}: add one to security::cases (a new route must \
             say how it refuses another user's resources)"
        ),
    }
}

fn m_static(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        other => panic!("method {other}"),
    }
}

async fn send_probe(base: &str, w: &World, probe: &Probe) -> Reply {
    let mallory: &Member = &w.mallory.owner;
    match probe.who {
        Who::Signed => {
            let Full { reply, .. } = signed_post(
                base,
                &probe.path,
                &mallory.token,
                &mallory.phone,
                probe.body.as_ref().expect("a signed probe has a body"),
                &[("idempotency-key", new_key())],
            )
            .await;
            reply
        }
        Who::Jwt | Who::Pos => {
            let bearer = match probe.who {
                Who::Jwt => mallory.token.as_str(),
                _ => w.mallory.pos.as_str(),
            };
            let body = probe.body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
            raw(
                base,
                probe.method,
                &probe.path,
                Some(bearer),
                &[("idempotency-key", new_key())],
                body,
            )
            .await
        }
    }
}

// --- cross-user access ---------------------------------------------------------------------------

#[actix_rt::test]
async fn every_route_refuses_another_users_resources_with_404() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "every_route_refuses_another_users_resources") else {
            continue;
        };
        let base = server.base.as_str();
        let w = world(base).await;
        let mallory_payload = qr_payload(base, &w.mallory, &json!({"amount": "1.00"})).await;
        let before_alice = get_auth(
            base,
            &format!("/v1/wallets/{}", w.alice_wallet),
            &w.alice.owner.token,
        )
        .await;
        let before_shop = get_auth(
            base,
            &format!("/v1/merchants/{}/wallet", w.alice.id),
            &w.alice.owner.token,
        )
        .await;
        assert_eq!(before_shop.status, 200, "{}", before_shop.text);

        let mut probed = 0;
        for (method, template) in openapi_operations(base).await {
            match cases(&w, &method, &template, &mallory_payload) {
                Case::Foreign(probes) => {
                    for probe in &probes {
                        let reply = send_probe(base, &w, probe).await;
                        assert_eq!(
                            reply.status, 404,
                            "{backend:?} {method} {template} as {:?} ({}): {}",
                            probe.who, probe.path, reply.text
                        );
                        assert!(
                            reply.content_type.starts_with("application/problem+json"),
                            "{method} {template}: {}",
                            reply.content_type
                        );
                        probed += 1;
                    }
                }
                Case::List(path) => {
                    let reply = get_auth(base, &path, &w.mallory.owner.token).await;
                    assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text);
                    for id in &w.secrets_of_alice {
                        assert!(!reply.text.contains(id.as_str()), "{path} shows {id}");
                    }
                }
                Case::Exempt(why) => assert!(!why.is_empty()),
            }
        }
        assert!(probed >= 30, "only {probed} probes");

        // Nothing Mallory tried changed anything of Alice's.
        let token = &w.alice.owner.token;
        let after = get_auth(base, &format!("/v1/wallets/{}", w.alice_wallet), token).await;
        assert_eq!(after.json["balance"], before_alice.json["balance"]);
        let after = get_auth(base, &format!("/v1/merchants/{}/wallet", w.alice.id), token).await;
        assert_eq!(after.json["balance"], before_shop.json["balance"]);
        let device = get_auth(base, &format!("/v1/devices/{}", w.ids["device_id"]), token).await;
        assert_eq!(device.status, 200);
        assert!(device.json["revoked_at_ms"].is_null(), "{}", device.text);
        let hook = get_auth(
            base,
            &format!("/v1/merchants/{}/webhook", w.alice.id),
            token,
        )
        .await;
        assert_eq!(
            hook.json["url"], "https://hooks.example.com/purse",
            "{}",
            hook.text
        );
        let merchant = get_auth(base, &format!("/v1/merchants/{}", w.alice.id), token).await;
        assert_eq!(merchant.json["status"], "active", "{}", merchant.text);
        // Alice's POS key and device still work.
        let qr = qr_payload(base, &w.alice, &json!({})).await;
        assert!(!qr.is_empty());
        let sent = send(
            base,
            &w.alice.owner,
            Some(&new_key()),
            &usd(&w.alice_wallet, json!(w.mallory_wallet), "1.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
    }
}

// --- body size -----------------------------------------------------------------------------------

#[actix_rt::test]
async fn oversized_bodies_are_413_on_every_post_and_put_even_without_a_body() {
    let Some(server) = start(crate::util::Backend::Sqlite, "oversized_bodies_are_413") else {
        return;
    };
    let base = server.base.as_str();
    let w = world(base).await;
    // Mallory's own ids, so that nothing but the size is wrong.
    let mut ids = w.ids.clone();
    ids.insert("merchant_id", w.mallory.id.clone());
    ids.insert("device_id", w.mallory.owner.phone.device_id.clone());
    ids.insert("wallet_id", w.mallory_wallet.clone());
    let limit = purse_server::config::Config::default().body_max_bytes;
    assert_eq!(limit, 64 * 1024);
    let mut body = b"{\"name\":\"".to_vec();
    body.resize(limit + 1, b'a');
    let mut checked = 0;
    for (method, template) in openapi_operations(base).await {
        if method != "POST" && method != "PUT" {
            continue;
        }
        let path = fill(&template, &ids);
        for bearer in [w.mallory.owner.token.as_str(), w.mallory.pos.as_str()] {
            let reply = raw(
                base,
                &method,
                &path,
                Some(bearer),
                &[("idempotency-key", new_key())],
                Some(body.clone()),
            )
            .await;
            assert_eq!(reply.status, 413, "{method} {template}: {}", reply.text);
            assert_eq!(reply.json["code"], "body_too_large", "{method} {template}");
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
    // Exactly the limit is not refused for its size.
    let mut fits = b"{\"name\":\"".to_vec();
    fits.resize(limit - 2, b'a');
    fits.extend_from_slice(b"\"}");
    let reply = raw(
        base,
        "POST",
        &format!("/v1/merchants/{}/api-keys", w.mallory.id),
        Some(&w.mallory.owner.token),
        &[],
        Some(fits),
    )
    .await;
    assert_ne!(reply.status, 413, "{}", reply.text);
    assert!(reply.status < 500, "{}", reply.text);
}

// --- SQL-shaped and odd text ---------------------------------------------------------------------

/// Strings that break naive SQL, JSON, HTML or text handling.
const NASTY: &[&str] = &[
    "'; DROP TABLE users; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM transfers;--",
    "%' UNION SELECT secret_seed FROM server_keys --",
    "\\x00\\' \\\" \\\\",
    "<script>alert(1)</script>",
    "Zürich 東京 🙂 عربى",
    "a\u{0}b",
    "\u{0}",
    "\u{202e}evil\u{200b}",
];

/// An answer to odd text: accepted (2xx), or refused with a clear 4xx problem. Never 500.
fn clean(reply: &Reply, what: &str, text: &str) -> bool {
    assert!(
        reply.status < 500,
        "{what} = {text:?}: {} {}",
        reply.status,
        reply.text
    );
    if reply.status >= 400 {
        assert!(
            reply.content_type.starts_with("application/problem+json")
                && reply.json["code"].is_string(),
            "{what} = {text:?}: {}",
            reply.text
        );
        if text.contains('\u{0}') {
            assert!(
                reply.status == 400 || reply.status == 422,
                "{what} = {text:?}: NUL must be a 400/422, got {} {}",
                reply.status,
                reply.text
            );
        }
        return false;
    }
    true
}

#[actix_rt::test]
async fn sql_shaped_text_is_stored_verbatim_or_refused_cleanly() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "sql_shaped_text_is_stored_verbatim") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shopkeeper@example.com", 1).await;
        let owner = &shop.owner;
        let wallet = open_wallet(base, owner, "USD").await;
        fund(base, &wallet, "100.00").await;
        let friend = member(base, "friend@example.com", 2).await;
        let friend_wallet = open_wallet(base, &friend, "USD").await;
        fund(base, &friend_wallet, "100.00").await;
        let mut stored = 0;

        for (i, text) in NASTY.iter().enumerate() {
            let text = *text;
            // Sign-up: the email, and the password (which is never stored as text).
            let email = format!("{text}{i}@example.com");
            let reply = crate::util::post_json(
                &format!("{base}/v1/auth/signup"),
                &json!({"email": email, "password": format!("{text} long enough pw")}),
            )
            .await;
            if clean(&reply, "email", &email) {
                let login = crate::util::post_json(
                    &format!("{base}/v1/auth/login"),
                    &json!({"email": email, "password": format!("{text} long enough pw")}),
                )
                .await;
                assert_eq!(login.status, 200, "{}", login.text);
                let token = login.json["access_token"].as_str().unwrap();
                let me = get_auth(base, "/v1/me", token).await;
                assert_eq!(me.json["email"], email.to_lowercase(), "{}", me.text);
                stored += 1;
            }

            // Device name.
            let key = crate::identity::device_key(100 + i as u8);
            let reply = post_auth(
                base,
                "/v1/devices",
                &owner.token,
                &json!({"public_key": key.public_key().to_string(), "name": text}),
            )
            .await;
            if clean(&reply, "device name", text) {
                let id = reply.json["id"].as_str().unwrap();
                let back = get_auth(base, &format!("/v1/devices/{id}"), &owner.token).await;
                assert_eq!(back.json["name"], text);
                stored += 1;
            }

            // Merchant name and city.
            for field in ["name", "city"] {
                let mut body = json!({"name": "Shop", "city": "Oakland", "country": "US",
                                      "mcc": "5814", "currency": "USD"});
                body[field] = json!(text);
                let reply = post_auth(base, "/v1/merchants", &owner.token, &body).await;
                if clean(&reply, field, text) {
                    let id = reply.json["id"].as_str().unwrap();
                    let back = get_auth(base, &format!("/v1/merchants/{id}"), &owner.token).await;
                    assert_eq!(back.json[field], text);
                    stored += 1;
                }
            }

            // POS key name.
            let reply = post_auth(
                base,
                &format!("/v1/merchants/{}/api-keys", shop.id),
                &owner.token,
                &json!({"name": text}),
            )
            .await;
            if clean(&reply, "api key name", text) {
                assert_eq!(reply.json["name"], text);
                stored += 1;
            }

            // Transfer memo.
            let mut body = usd(&wallet, json!(friend_wallet), "0.01");
            body["memo"] = json!(text);
            let sent = send(base, owner, Some(&new_key()), &body).await;
            if clean(&sent.reply, "memo", text) {
                let id = sent.reply.json["id"].as_str().unwrap();
                let back = get_auth(base, &format!("/v1/transfers/{id}"), &friend.token).await;
                assert_eq!(back.json["memo"], text, "{}", back.text);
                stored += 1;
            }

            // Dynamic QR reference, then a payment and a refund reason.
            let reply = bearer_call(
                base,
                "POST",
                &format!("/v1/merchants/{}/qr", shop.id),
                &shop.pos,
                None,
                Some(&json!({"amount": "0.10", "reference": text})),
            )
            .await;
            if clean(&reply, "qr reference", text) {
                assert_eq!(reply.json["reference"], text, "{}", reply.text);
                stored += 1;
            }
            let payload = qr_payload(base, &shop, &json!({"amount": "0.10"})).await;
            let paid = pay(
                base,
                &friend,
                &new_key(),
                &json!({"payload": payload, "wallet": friend_wallet}),
            )
            .await;
            assert_eq!(paid.reply.status, 201, "{}", paid.reply.text);
            let payment = paid.reply.json["id"].as_str().unwrap();
            let refund = bearer_call(
                base,
                "POST",
                "/v1/refunds",
                &shop.pos,
                Some(&new_key()),
                Some(&json!({"payment": payment, "reason": text})),
            )
            .await;
            if clean(&refund, "refund reason", text) {
                let id = refund.json["id"].as_str().unwrap();
                let back = bearer_call(
                    base,
                    "GET",
                    &format!("/v1/refunds/{id}"),
                    &shop.pos,
                    None,
                    None,
                )
                .await;
                assert_eq!(back.json["reason"], text, "{}", back.text);
                stored += 1;
            }

            // Charge reference.
            let code = paycode_of(&friend.phone.secret, 10 + i as u32, 0, None);
            let mut body = charge_body(&code, "0.01");
            body["reference"] = json!(text);
            let reply = charge(base, &shop, &new_key(), &body).await;
            if clean(&reply, "charge reference", text) {
                assert_eq!(reply.json["reference"], text, "{}", reply.text);
                stored += 1;
            }
        }
        // Most of the nasty strings are plain text and must be kept, not refused.
        assert!(stored >= 40, "{backend:?}: only {stored} stored verbatim");

        // And the tables are all still there: the server still answers from every one of them.
        let me = get_auth(base, "/v1/me", &owner.token).await;
        assert_eq!(me.status, 200);
        let wallets = get_auth(base, "/v1/wallets", &owner.token).await;
        assert_eq!(wallets.status, 200);
        let verify = server.purse(&["ledger", "verify"]);
        assert_eq!(verify.status, 0, "{}{}", verify.stdout, verify.stderr);
    }
}

// --- merchant webhook signatures, as a receiver checks them -------------------------------------

#[actix_rt::test]
async fn webhook_receivers_refuse_a_bad_signature_and_a_stale_timestamp() {
    use purse_server::providers::SignatureError;
    use purse_server::webhooks::signature::{TOLERANCE_S, verify};

    let Some(server) = TestServer::start_with(
        crate::util::Backend::Sqlite,
        "webhook_receivers_refuse",
        |config| {
            config.admin_token = Some(crate::transfers::ADMIN_TOKEN.to_owned());
            config.webhooks.allow_loopback = true;
            config.webhooks.poll_ms = 100;
        },
    ) else {
        return;
    };
    let base = server.base.as_str();
    let receiver = crate::webhooks::Receiver::start(&[]);
    let shop = shop(base, "hooked@example.com", 1).await;
    let created = raw(
        base,
        "PUT",
        &format!("/v1/merchants/{}/webhook", shop.id),
        Some(&shop.owner.token),
        &[],
        Some(serde_json::to_vec(&json!({"url": receiver.url})).unwrap()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    let payer = member(base, "payer@example.com", 2).await;
    let wallet = open_wallet(base, &payer, "USD").await;
    fund(base, &wallet, "10.00").await;
    let payload = qr_payload(base, &shop, &json!({"amount": "1.00"})).await;
    let paid = pay(
        base,
        &payer,
        &new_key(),
        &json!({"payload": payload, "wallet": wallet}),
    )
    .await;
    assert_eq!(paid.reply.status, 201, "{}", paid.reply.text);
    let hit = receiver
        .wait_for(1, std::time::Duration::from_secs(20))
        .await
        .remove(0);
    let header = hit.headers.get("purse-signature").expect("signed").clone();
    let body = hit.body.as_bytes();
    let t: i64 = header
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("t= first");
    let secrets = [secret.clone()];
    let tolerance = i64::try_from(TOLERANCE_S).unwrap();

    // The genuine delivery verifies, at its time and up to the tolerance either way.
    assert_eq!(verify(&secrets, Some(&header), body, t), Ok(()));
    assert_eq!(verify(&secrets, Some(&header), body, t + tolerance), Ok(()));
    assert_eq!(verify(&secrets, Some(&header), body, t - tolerance), Ok(()));
    // Replayed later, or dated in the future: stale.
    assert_eq!(
        verify(&secrets, Some(&header), body, t + tolerance + 1),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify(&secrets, Some(&header), body, t - tolerance - 1),
        Err(SignatureError::Stale)
    );
    // A changed body, a wrong secret, a forged tag, a re-dated header: invalid.
    let mut tampered = body.to_vec();
    tampered[body.len() / 2] ^= 1;
    assert_eq!(
        verify(&secrets, Some(&header), &tampered, t),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        verify(
            &["whsec_leaked_or_guessed".to_owned()],
            Some(&header),
            body,
            t
        ),
        Err(SignatureError::Invalid)
    );
    let forged = format!("t={t},v1={}", "0".repeat(64));
    assert_eq!(
        verify(&secrets, Some(&forged), body, t),
        Err(SignatureError::Invalid)
    );
    let redated = header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
    assert_eq!(
        verify(&secrets, Some(&redated), body, t),
        Err(SignatureError::Invalid)
    );
    // No header, no tag, garbage: refused before any HMAC.
    assert_eq!(
        verify(&secrets, None, body, t),
        Err(SignatureError::Missing)
    );
    for bad in ["", "t=", &format!("t={t}"), "v1=00", "t=x,v1=00", "garbage"] {
        assert_eq!(
            verify(&secrets, Some(bad), body, t),
            Err(SignatureError::Malformed),
            "{bad:?}"
        );
    }
}

// --- secrets never reach the logs ----------------------------------------------------------------

#[actix_rt::test]
async fn no_secret_reaches_the_logs_in_a_full_flow() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let admin_token = "operator-token-for-the-log-test-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_purse"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("PURSE_DATA_DIR", &data_dir)
        .env("RUST_LOG", "trace,h2=info,hyper=info")
        .env("PURSE_ADMIN_TOKEN", admin_token)
        .env("PURSE_WEBHOOKS_ALLOW_LOOPBACK", "true")
        .env("PURSE_WEBHOOKS_POLL_MS", "100")
        .env_remove("PURSE_DATABASE_URL")
        .env_remove("PURSE_CONFIG")
        .env_remove("PURSE_LOG_FORMAT")
        .env_remove("PURSE_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("purse serve started");
    // Both streams are drained in full by their own threads, so the server never blocks on a pipe.
    let drain = |mut stream: Box<dyn Read + Send>, tx: std::sync::mpsc::Sender<String>| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut all = Vec::new();
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        all.extend_from_slice(&buf[..n]);
                        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        })
    };
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = drain(Box::new(child.stdout.take().unwrap()), tx.clone());
    let err = drain(Box::new(child.stderr.take().unwrap()), tx);
    let mut seen = String::new();
    let addr = loop {
        let chunk = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no 'listening on' line; logs so far: {seen}"));
        seen.push_str(&chunk);
        if let Some((_, rest)) = seen.split_once("listening on http://") {
            if let Some(addr) = rest
                .split_whitespace()
                .next()
                .filter(|_| rest.contains('\n'))
            {
                break addr.to_owned();
            }
        }
    };
    let base = format!("http://{addr}");
    let base = base.as_str();

    // A full flow through every secret-bearing path.
    let receiver = crate::webhooks::Receiver::start(&[]);
    let fund = |wallet: String| async move {
        let reply = raw(
            base,
            "POST",
            "/v1/admin/fund",
            Some(admin_token),
            &[],
            Some(serde_json::to_vec(&json!({"wallet_id": wallet, "amount": "50.00"})).unwrap()),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    };
    let shop = shop(base, "logshop@example.com", 1).await;
    let hook = raw(
        base,
        "PUT",
        &format!("/v1/merchants/{}/webhook", shop.id),
        Some(&shop.owner.token),
        &[],
        Some(serde_json::to_vec(&json!({"url": receiver.url})).unwrap()),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let first_secret = hook.json["secret"].as_str().unwrap().to_owned();
    let rotated = post_auth(
        base,
        &format!("/v1/merchants/{}/webhook/rotate", shop.id),
        &shop.owner.token,
        &json!({}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second_secret = rotated.json["secret"].as_str().unwrap().to_owned();
    let server_key = post_auth(
        base,
        &format!("/v1/merchants/{}/keys", shop.id),
        &shop.owner.token,
        &json!({}),
    )
    .await;
    assert_eq!(server_key.status, 201, "{}", server_key.text);

    let payer = member(base, "logpayer@example.com", 2).await;
    let wallet = open_wallet(base, &payer, "USD").await;
    fund(wallet.clone()).await;
    let payload = qr_payload(base, &shop, &json!({"amount": "2.00"})).await;
    let paid = pay(
        base,
        &payer,
        &new_key(),
        &json!({"payload": payload, "wallet": wallet}),
    )
    .await;
    assert_eq!(paid.reply.status, 201, "{}", paid.reply.text);
    let code = paycode_of(&payer.phone.secret, 1, 0, None);
    let charged = charge(base, &shop, &new_key(), &charge_body(&code, "1.00")).await;
    assert_eq!(charged.status, 201, "{}", charged.text);
    let wrong = crate::util::post_json(
        &format!("{base}/v1/auth/login"),
        &json!({"email": "logpayer@example.com", "password": "a wrong password 123"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let login = crate::util::post_json(
        &format!("{base}/v1/auth/login"),
        &json!({"email": "logpayer@example.com", "password": crate::identity::PASSWORD}),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let refresh = login.json["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = crate::util::post_json(
        &format!("{base}/v1/auth/refresh"),
        &json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let reused = crate::util::post_json(
        &format!("{base}/v1/auth/refresh"),
        &json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(reused.status, 401);
    // A request that fails on a secret-bearing header: the bad token is not echoed into logs.
    let bogus_pos = "purse_pos_not_a_real_key_but_secret_shaped_0123";
    let refused = bearer_call(
        base,
        "GET",
        &format!("/v1/merchants/{}/wallet", shop.id),
        bogus_pos,
        None,
        None,
    )
    .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    receiver
        .wait_for(2, std::time::Duration::from_secs(20))
        .await;

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "purse serve exited with {status}");
    let logs = format!("{}\n{}", out.join().unwrap(), err.join().unwrap());
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "debug logging is on:\n{logs}"
    );

    // The payer's device key is `identity::device_key(2)`: its seed, and its key-file text.
    let mut device_seed = [2u8; 32];
    device_seed[0] = 0xA5;
    assert_eq!(
        crate::identity::device_key(2).public_key(),
        payer.phone.secret.public_key()
    );
    let secrets = [
        crate::identity::PASSWORD.to_owned(),
        "a wrong password 123".to_owned(),
        shop.owner.token.clone(),
        payer.token.clone(),
        login.json["access_token"].as_str().unwrap().to_owned(),
        refresh.clone(),
        refreshed.json["refresh_token"].as_str().unwrap().to_owned(),
        data_encoding::HEXLOWER.encode(&device_seed),
        data_encoding::BASE64URL_NOPAD.encode(&device_seed),
        data_encoding::BASE64.encode(&device_seed),
        payer.phone.secret.to_text().to_string(),
        shop.pos.clone(),
        bogus_pos.to_owned(),
        first_secret.clone(),
        second_secret.clone(),
        admin_token.to_owned(),
    ];
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret ({}…) leaked into the logs:\n{logs}",
            &secret[..8]
        );
    }
    // The webhook deliveries were signed with the secrets (so they were in use during the flow).
    let hits = receiver.hits();
    crate::webhooks::assert_signed(&hits[0], &[&second_secret, &first_secret]);
}
