//! Merchants over real HTTP on SQLite and PostgreSQL: profile and wallet, every validation code,
//! another user's merchant as 404, signing keys (generated and registered, revoked, the public
//! directory and its caching), POS API keys (secret shown once, revocation), QR codes (static and
//! dynamic, reference reuse, inactive merchant). Also the helpers the payments tests share.

use serde_json::{Value, json};

use crate::identity::call;
use crate::transfers::{Member, get_auth, member, post_auth, start};
use crate::util::{BACKENDS, Reply, assert_problem, client, read};

/// A merchant, its owner and a POS key.
pub struct Shop {
    pub owner: Member,
    pub id: String,
    pub wallet: String,
    pub pos: String,
}

/// Creates a USD merchant "Blue Bottle" for `owner` and returns its JSON.
pub async fn create_merchant(base: &str, owner: &Member, currency: &str) -> Value {
    let reply = post_auth(
        base,
        "/v1/merchants",
        &owner.token,
        &json!({"name": "Blue Bottle", "city": "Oakland", "country": "US", "mcc": "5814",
                "currency": currency}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json
}

/// A new POS key secret for `merchant`.
pub async fn pos_key(base: &str, owner: &Member, merchant: &str) -> String {
    let reply = post_auth(
        base,
        &format!("/v1/merchants/{merchant}/api-keys"),
        &owner.token,
        &json!({"name": "Till 1"}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["secret"].as_str().expect("secret").to_owned()
}

/// A merchant owned by a new member (device seed `seed`) with a POS key.
pub async fn shop(base: &str, email: &str, seed: u8) -> Shop {
    let owner = member(base, email, seed).await;
    let merchant = create_merchant(base, &owner, "USD").await;
    let id = merchant["id"].as_str().unwrap().to_owned();
    let pos = pos_key(base, &owner, &id).await;
    Shop {
        wallet: merchant["wallet_id"].as_str().unwrap().to_owned(),
        owner,
        id,
        pos,
    }
}

/// A request with `Authorization: Bearer <bearer>` (a JWT or a POS key).
pub async fn bearer_call(
    base: &str,
    method: &str,
    path: &str,
    bearer: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let url = format!("{base}{path}");
    let mut request = match method {
        "GET" => client().get(&url),
        "POST" => client().post(&url),
        "DELETE" => client().delete(&url),
        other => panic!("method {other}"),
    };
    request = request.insert_header(("authorization", format!("Bearer {bearer}")));
    if let Some(key) = key {
        request = request.insert_header(("idempotency-key", key.to_owned()));
    }
    let response = match body {
        Some(body) => request.send_json(body).await,
        None => request.send().await,
    };
    read(response.expect("request sent")).await
}

/// `POST /v1/merchants/{id}/qr` with `bearer` (owner JWT or POS key).
pub async fn make_qr(base: &str, bearer: &str, merchant: &str, body: &Value) -> Reply {
    bearer_call(
        base,
        "POST",
        &format!("/v1/merchants/{merchant}/qr"),
        bearer,
        None,
        Some(body),
    )
    .await
}

#[actix_rt::test]
async fn merchant_profile_wallet_validation_and_privacy() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "merchant_profile") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let eve = member(base, "eve@example.com", 2).await;
        let merchant = create_merchant(base, &ana, "USD").await;
        let id = merchant["id"].as_str().unwrap();
        assert!(id.starts_with("mer_"), "{merchant}");
        assert!(merchant["wallet_id"].as_str().unwrap().starts_with("wal_"));
        assert_eq!(merchant["status"], "active");
        assert_eq!(merchant["name"], "Blue Bottle");
        assert_eq!(merchant["currency"], "USD");

        let got = get_auth(base, &format!("/v1/merchants/{id}"), &ana.token).await;
        assert_eq!(got.status, 200, "{backend:?}: {}", got.text);
        assert_eq!(got.json, merchant);
        let list = get_auth(base, "/v1/merchants", &ana.token).await;
        assert_eq!(
            list.json["data"].as_array().map(Vec::len),
            Some(1),
            "{}",
            list.text
        );
        assert_eq!(list.json["data"][0], merchant);
        assert_eq!(list.json["has_more"], false);
        // Someone else's merchant is a 404 like a missing one, and not in their list.
        let other = get_auth(base, &format!("/v1/merchants/{id}"), &eve.token).await;
        assert_problem(&other, 404, "not_found");
        let missing = get_auth(
            base,
            "/v1/merchants/mer_000000000000000000000000",
            &ana.token,
        )
        .await;
        assert_problem(&missing, 404, "not_found");
        let list = get_auth(base, "/v1/merchants", &eve.token).await;
        assert_eq!(list.json, json!({"data": [], "has_more": false}));
        // The wallet is not the owner's: it belongs to the mer_ id.
        let wallet = merchant["wallet_id"].as_str().unwrap();
        let wallet_reply = get_auth(base, &format!("/v1/wallets/{wallet}"), &ana.token).await;
        assert_problem(&wallet_reply, 404, "not_found");

        let valid = json!({"name": "Blue Bottle", "city": "Oakland", "country": "US",
                           "mcc": "5814", "currency": "USD"});
        for (field, value, code) in [
            ("name", json!(""), "name_invalid"),
            (
                "name",
                json!("A name far longer than twenty-five"),
                "name_invalid",
            ),
            ("name", json!("Café"), "name_invalid"),
            ("city", json!("A city name longer than 15"), "city_invalid"),
            ("country", json!("usa"), "country_invalid"),
            ("mcc", json!("58a4"), "mcc_invalid"),
            ("currency", json!("XYZ"), "currency_unknown"),
        ] {
            let mut body = valid.clone();
            body[field] = value;
            let reply = post_auth(base, "/v1/merchants", &ana.token, &body).await;
            assert_problem(&reply, 400, code);
        }
        let list = get_auth(base, "/v1/merchants", &ana.token).await;
        assert_eq!(
            list.json["data"].as_array().map(Vec::len),
            Some(1),
            "nothing created"
        );

        // Optional Idempotency-Key: the same key answers the same merchant.
        let key = [("idempotency-key", "merchant-key-1".to_owned())];
        let bytes = serde_json::to_vec(&valid).unwrap();
        let first = call(
            base,
            "POST",
            "/v1/merchants",
            Some(&ana.token),
            &key,
            Some(&bytes),
        )
        .await;
        let again = call(
            base,
            "POST",
            "/v1/merchants",
            Some(&ana.token),
            &key,
            Some(&bytes),
        )
        .await;
        assert_eq!(first.reply.status, 201);
        assert_eq!(first.reply.json, again.reply.json);
        // Pagination: two merchants now, one per page.
        let page = get_auth(base, "/v1/merchants?limit=1", &ana.token).await;
        assert_eq!(page.json["data"][0], first.reply.json);
        assert_eq!(page.json["has_more"], true);
        let next = get_auth(
            base,
            &format!(
                "/v1/merchants?limit=1&starting_after={}",
                first.reply.json["id"].as_str().unwrap()
            ),
            &ana.token,
        )
        .await;
        assert_eq!(next.json["data"][0], merchant);
        assert_eq!(next.json["has_more"], false);

        // Deactivation: visible on the profile, codes refused.
        let off = post_auth(
            base,
            &format!("/v1/merchants/{id}/deactivate"),
            &ana.token,
            &json!({}),
        )
        .await;
        assert_eq!(off.status, 200, "{}", off.text);
        assert_eq!(off.json["status"], "inactive");
        let qr = make_qr(base, &ana.token, id, &json!({})).await;
        assert_problem(&qr, 422, "merchant_inactive");
        let eve_off = post_auth(
            base,
            &format!("/v1/merchants/{id}/activate"),
            &eve.token,
            &json!({}),
        )
        .await;
        assert_problem(&eve_off, 404, "not_found");
    }
}

#[actix_rt::test]
async fn merchant_keys_directory_and_pos_api_keys() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "merchant_keys") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let eve = member(base, "eve@example.com", 2).await;
        let merchant = create_merchant(base, &ana, "USD").await;
        let id = merchant["id"].as_str().unwrap();
        let keys_path = format!("/v1/merchants/{id}/keys");

        // Server-generated key.
        let generated = post_auth(base, &keys_path, &ana.token, &json!({})).await;
        assert_eq!(generated.status, 201, "{backend:?}: {}", generated.text);
        assert_eq!(generated.json["status"], "active");
        let key_id = generated.json["key_id"].as_str().unwrap().to_owned();
        assert_eq!(key_id.len(), 16);
        // A registered key the merchant holds.
        let till = purse_core::keys::SecretKey::from_bytes(&[42; 32]);
        let public = till.public_key().to_string();
        let registered =
            post_auth(base, &keys_path, &ana.token, &json!({"public_key": public})).await;
        assert_eq!(registered.status, 201, "{}", registered.text);
        assert_eq!(registered.json["key_id"], till.key_id().to_string());
        assert_eq!(registered.json["public_key"], public);
        let again = post_auth(base, &keys_path, &ana.token, &json!({"public_key": public})).await;
        assert_problem(&again, 409, "merchant_key_exists");
        let bad = post_auth(base, &keys_path, &ana.token, &json!({"public_key": "nope"})).await;
        assert_problem(&bad, 400, "merchant_key_invalid");
        let eves = post_auth(base, &keys_path, &eve.token, &json!({})).await;
        assert_problem(&eves, 404, "not_found");

        // Public directory: no auth, cacheable, revocations visible.
        let response = client()
            .delete(format!("{base}{keys_path}/{key_id}"))
            .insert_header(("authorization", format!("Bearer {}", ana.token)))
            .send()
            .await
            .expect("sent");
        let revoked = read(response).await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        assert_eq!(revoked.json["status"], "revoked");
        assert!(revoked.json["revoked_at_ms"].is_i64());
        let response = client()
            .get(format!("{base}{keys_path}"))
            .send()
            .await
            .expect("sent");
        let cache = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let directory = read(response).await;
        assert_eq!(directory.status, 200, "{}", directory.text);
        assert_eq!(cache, "public, max-age=300");
        assert_eq!(directory.json["merchant_id"], id);
        let keys = directory.json["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0]["key_id"], key_id.as_str());
        assert_eq!(keys[0]["status"], "revoked");
        assert_eq!(keys[1]["status"], "active");
        let none = crate::util::get(&format!(
            "{base}/v1/merchants/mer_000000000000000000000000/keys"
        ))
        .await;
        assert_problem(&none, 404, "not_found");

        // POS API keys: the secret once, hashed at rest, revocable.
        let api_path = format!("/v1/merchants/{id}/api-keys");
        let created = post_auth(base, &api_path, &ana.token, &json!({"name": "Till 1"})).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let secret = created.json["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("purse_pos_"), "{secret}");
        let api_key_id = created.json["id"].as_str().unwrap().to_owned();
        assert!(api_key_id.starts_with("key_"));
        let listed = get_auth(base, &api_path, &ana.token).await;
        assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(1));
        assert!(
            listed.json["data"][0].get("secret").is_none(),
            "{}",
            listed.text
        );
        assert!(!listed.text.contains(&secret));
        let empty = post_auth(base, &api_path, &ana.token, &json!({"name": ""})).await;
        assert_problem(&empty, 400, "api_key_name_invalid");
        let eves = get_auth(base, &api_path, &eve.token).await;
        assert_problem(&eves, 404, "not_found");
        // The POS key makes codes for its merchant only.
        let qr = make_qr(base, &secret, id, &json!({})).await;
        assert_eq!(qr.status, 201, "{}", qr.text);
        let other = create_merchant(base, &eve, "USD").await;
        let foreign = make_qr(base, &secret, other["id"].as_str().unwrap(), &json!({})).await;
        assert_problem(&foreign, 404, "not_found");
        let revoked = bearer_call(
            base,
            "DELETE",
            &format!("{api_path}/{api_key_id}"),
            &ana.token,
            None,
            None,
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        assert!(revoked.json["revoked_at_ms"].is_i64());
        let refused = make_qr(base, &secret, id, &json!({})).await;
        assert_problem(&refused, 401, "pos_key_invalid");
        let unknown = make_qr(base, "purse_pos_unknown", id, &json!({})).await;
        assert_problem(&unknown, 401, "pos_key_invalid");
    }
}

#[actix_rt::test]
async fn qr_codes_static_and_dynamic() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "qr_codes") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "ana@example.com", 1).await;
        let static_qr = make_qr(base, &shop.owner.token, &shop.id, &json!({})).await;
        assert_eq!(static_qr.status, 201, "{backend:?}: {}", static_qr.text);
        assert_eq!(static_qr.json["kind"], "static");
        assert!(static_qr.json["id"].as_str().unwrap().starts_with("qr_"));
        assert!(static_qr.json.get("amount").is_none());
        assert!(static_qr.json["svg"].as_str().unwrap().contains("<svg"));
        let payload = static_qr.json["payload"].as_str().unwrap();
        assert!(payload.starts_with("000201"), "{payload}");
        let code = purse_core::merchant_code::decode(payload).expect("a Purse code");
        assert_eq!(code.merchant_id(), shop.id);

        let dynamic = make_qr(
            base,
            &shop.pos,
            &shop.id,
            &json!({"amount": "12.50", "reference": "order-42", "expires_in_s": 300}),
        )
        .await;
        assert_eq!(dynamic.status, 201, "{}", dynamic.text);
        assert_eq!(dynamic.json["kind"], "dynamic");
        assert_eq!(dynamic.json["amount"], "12.50");
        assert_eq!(dynamic.json["currency"], "USD");
        assert_eq!(dynamic.json["reference"], "order-42");
        let expires = dynamic.json["expires_at_ms"].as_i64().unwrap();
        let now = purse_server::ledger::now_ms();
        assert!(
            (now + 290_000..=now + 310_000).contains(&expires),
            "{expires}"
        );
        // Reference generated and default expiry of 15 minutes.
        let generated = make_qr(base, &shop.pos, &shop.id, &json!({"amount": "1.00"})).await;
        assert_eq!(generated.status, 201, "{}", generated.text);
        assert!(
            generated.json["reference"]
                .as_str()
                .is_some_and(|r| !r.is_empty())
        );
        let expires = generated.json["expires_at_ms"].as_i64().unwrap();
        assert!(
            (now + 890_000..=now + 910_000).contains(&expires),
            "{expires}"
        );

        let reused = make_qr(
            base,
            &shop.pos,
            &shop.id,
            &json!({"amount": "2.00", "reference": "order-42"}),
        )
        .await;
        assert_problem(&reused, 409, "reference_in_use");
        for (body, code) in [
            (json!({"amount": "1.005"}), "amount_too_precise"),
            (json!({"amount": "0"}), "amount_not_positive"),
            (
                json!({"amount": "1.00", "reference": "bad ref!"}),
                "reference_invalid",
            ),
            (
                json!({"amount": "1.00", "expires_in_s": 0}),
                "expires_in_s_invalid",
            ),
        ] {
            let reply = make_qr(base, &shop.pos, &shop.id, &body).await;
            assert_problem(&reply, 400, code);
        }
    }
}
