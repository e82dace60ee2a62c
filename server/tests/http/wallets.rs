//! Wallets over real HTTP on SQLite and PostgreSQL: opening one per currency (again: the same
//! wallet), listing, balances in each currency's decimals, the cursor-paginated history, and 404
//! for every wallet of someone else.

use serde_json::json;

use crate::transfers::{
    Member, balance, fund, get_auth, member, new_key, open_wallet, post_auth, send, start, usd,
};
use crate::util::{BACKENDS, assert_problem, client, read};

#[actix_rt::test]
async fn wallets_open_once_per_currency_and_are_private() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "wallets_open_once_per_currency") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;

        let created = post_auth(base, "/v1/wallets", &ana.token, &json!({"currency": "USD"})).await;
        assert_eq!(created.status, 201, "{backend:?}: {}", created.text);
        let usd_id = created.json["id"].as_str().expect("id").to_owned();
        assert!(usd_id.starts_with("wal_"), "{usd_id}");
        assert_eq!(created.json["currency"], "USD");
        assert_eq!(created.json["balance"], "0.00");
        assert!(created.json["created_at_ms"].as_i64().expect("time") > 0);
        let again = post_auth(base, "/v1/wallets", &ana.token, &json!({"currency": "USD"})).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json, created.json);

        // Balances carry the currency's own decimals.
        let jpy = post_auth(base, "/v1/wallets", &ana.token, &json!({"currency": "JPY"})).await;
        assert_eq!(jpy.status, 201, "{}", jpy.text);
        assert_eq!(jpy.json["balance"], "0");
        let kwd = post_auth(base, "/v1/wallets", &ana.token, &json!({"currency": "KWD"})).await;
        assert_eq!(kwd.json["balance"], "0.000");
        fund(base, kwd.json["id"].as_str().unwrap(), "1.250").await;
        assert_eq!(
            balance(base, &ana, kwd.json["id"].as_str().unwrap()).await,
            "1.250"
        );

        let list = get_auth(base, "/v1/wallets", &ana.token).await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.json["has_more"], false);
        let mut currencies: Vec<&str> = list.json["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|w| w["currency"].as_str().unwrap())
            .collect();
        currencies.sort_unstable();
        assert_eq!(currencies, ["JPY", "KWD", "USD"]);
        let own = get_auth(base, &format!("/v1/wallets/{usd_id}"), &ana.token).await;
        assert_eq!(own.status, 200, "{}", own.text);
        assert_eq!(own.json, created.json);

        // Someone else's wallet, its history, a missing one and a malformed id: the same 404.
        let bo_list = get_auth(base, "/v1/wallets", &bo.token).await;
        assert_eq!(bo_list.json["data"], json!([]));
        for path in [
            format!("/v1/wallets/{usd_id}"),
            format!("/v1/wallets/{usd_id}/transactions"),
            "/v1/wallets/wal_000000000000000000000000".to_owned(),
            "/v1/wallets/wal_000000000000000000000000/transactions".to_owned(),
            "/v1/wallets/nonsense".to_owned(),
        ] {
            let reply = get_auth(base, &path, &bo.token).await;
            assert_problem(&reply, 404, "not_found");
            assert_eq!(reply.json["detail"], "no such wallet", "{path}");
        }

        for (body, code) in [
            (json!({"currency": "usd"}), "currency_unknown"),
            (json!({"currency": "ABC"}), "currency_unknown"),
            (json!({"currency": ""}), "currency_unknown"),
            (json!({"currency": "USD", "owner": "usr_x"}), "body_invalid"),
            (json!({}), "body_invalid"),
        ] {
            let reply = post_auth(base, "/v1/wallets", &ana.token, &body).await;
            assert_problem(&reply, 400, code);
        }
        for path in ["/v1/wallets", &format!("/v1/wallets/{usd_id}")] {
            let anonymous = read(client().get(server.url(path)).send().await.expect("sent")).await;
            assert_eq!(anonymous.status, 401, "{}", anonymous.text);
        }
        let anonymous = read(
            client()
                .post(server.url("/v1/wallets"))
                .send_json(&json!({"currency": "EUR"}))
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(anonymous.status, 401, "{}", anonymous.text);

        // With an Idempotency-Key the first answer replays exactly (201, not 200).
        let key = new_key();
        let keyed = |body: serde_json::Value| {
            let url = server.url("/v1/wallets");
            let token = ana.token.clone();
            let key = key.clone();
            async move {
                let response = client()
                    .post(url)
                    .insert_header(("authorization", format!("Bearer {token}")))
                    .insert_header(("idempotency-key", key))
                    .send_json(&body)
                    .await
                    .expect("sent");
                let replayed = response
                    .headers()
                    .get("idempotent-replayed")
                    .map(|v| v.to_str().unwrap().to_owned());
                (read(response).await, replayed)
            }
        };
        let (first, replayed) = keyed(json!({"currency": "EUR"})).await;
        assert_eq!(first.status, 201, "{}", first.text);
        assert_eq!(replayed, None);
        let (second, replayed) = keyed(json!({"currency": "EUR"})).await;
        assert_eq!(second.status, 201, "{}", second.text);
        assert_eq!(second.text, first.text);
        assert_eq!(replayed.as_deref(), Some("true"));
        let (other, _) = keyed(json!({"currency": "GBP"})).await;
        assert_problem(&other, 422, "idempotency_key_reused");
        let plain = post_auth(base, "/v1/wallets", &ana.token, &json!({"currency": "EUR"})).await;
        assert_eq!(plain.status, 200, "{}", plain.text);
        assert_eq!(plain.json["id"], first.json["id"]);
    }
}

/// Sends `amount` from `from`'s wallet to `to_wallet` and returns the transfer id.
async fn pay(
    base: &str,
    from: &Member,
    from_wallet: &str,
    to_wallet: &str,
    amount: &str,
) -> String {
    let reply = send(
        base,
        from,
        Some(&new_key()),
        &usd(from_wallet, json!(to_wallet), amount),
    )
    .await
    .reply;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json["id"].as_str().expect("id").to_owned()
}

#[actix_rt::test]
async fn history_is_newest_first_and_cursor_paginated() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "history_is_cursor_paginated") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let cy = member(base, "cy@example.com", 3).await;
        let ana_w = open_wallet(base, &ana, "USD").await;
        let bo_w = open_wallet(base, &bo, "USD").await;
        let cy_w = open_wallet(base, &cy, "USD").await;
        fund(base, &ana_w, "100.00").await;
        fund(base, &cy_w, "5.00").await;

        // Ana's history, oldest first: the funding, five payments to Bo, one back from Bo.
        let mut expected: Vec<(String, &str, &str)> = Vec::new();
        let history = get_auth(
            base,
            &format!("/v1/wallets/{ana_w}/transactions"),
            &ana.token,
        )
        .await;
        let funding = history.json["data"][0]["id"].as_str().unwrap().to_owned();
        expected.push((funding, "credit", "100.00"));
        for amount in ["1.00", "2.00", "3.00", "4.00", "5.00"] {
            expected.push((
                pay(base, &ana, &ana_w, &bo_w, amount).await,
                "debit",
                amount,
            ));
        }
        expected.push((
            pay(base, &bo, &bo_w, &ana_w, "0.50").await,
            "credit",
            "0.50",
        ));
        // Not Ana's: Cy pays Bo.
        let foreign = pay(base, &cy, &cy_w, &bo_w, "1.00").await;
        expected.reverse();

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/wallets/{ana_w}/transactions?limit=3");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&starting_after={cursor}"));
            }
            let page = get_auth(base, &path, &ana.token).await;
            assert_eq!(page.status, 200, "{}", page.text);
            let data = page.json["data"].as_array().expect("data").clone();
            assert!(data.len() <= 3);
            pages += 1;
            for item in &data {
                seen.push((
                    item["id"].as_str().unwrap().to_owned(),
                    item["direction"].as_str().unwrap().to_owned(),
                    item["amount"].as_str().unwrap().to_owned(),
                ));
                assert_eq!(item["currency"], "USD");
                if item["direction"] == "debit" {
                    assert_eq!(item["from"], ana_w.as_str());
                    assert_eq!(item["kind"], "p2p");
                } else {
                    assert_eq!(item["to"], ana_w.as_str());
                }
            }
            if page.json["has_more"] == false {
                break;
            }
            assert_eq!(data.len(), 3, "a page before the last is full");
            cursor = Some(data[2]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(pages, 3);
        let expected: Vec<(String, String, String)> = expected
            .into_iter()
            .map(|(id, d, a)| (id, d.to_owned(), a.to_owned()))
            .collect();
        assert_eq!(seen, expected);

        // One big page says the same.
        let all = get_auth(
            base,
            &format!("/v1/wallets/{ana_w}/transactions?limit=100"),
            &ana.token,
        )
        .await;
        assert_eq!(all.json["data"].as_array().unwrap().len(), 7);
        assert_eq!(all.json["has_more"], false);
        // The default page (20) holds them all as well.
        let default = get_auth(
            base,
            &format!("/v1/wallets/{ana_w}/transactions"),
            &ana.token,
        )
        .await;
        assert_eq!(default.json["data"], all.json["data"]);

        for (query, code) in [
            ("limit=0", "limit_invalid"),
            ("limit=101", "limit_invalid"),
            ("limit=abc", "query_invalid"),
            ("limit=-1", "query_invalid"),
            ("starting_after=nonsense", "starting_after_invalid"),
            (
                "starting_after=txn_000000000000000000000000",
                "starting_after_invalid",
            ),
        ] {
            let reply = get_auth(
                base,
                &format!("/v1/wallets/{ana_w}/transactions?{query}"),
                &ana.token,
            )
            .await;
            assert_problem(&reply, 400, code);
        }
        // A transfer of another wallet is no cursor into Ana's history.
        let reply = get_auth(
            base,
            &format!("/v1/wallets/{ana_w}/transactions?starting_after={foreign}"),
            &ana.token,
        )
        .await;
        assert_problem(&reply, 400, "starting_after_invalid");
        assert_eq!(balance(base, &ana, &ana_w).await, "85.50");
    }
}

#[actix_rt::test]
async fn openapi_documents_the_wallet_and_transfer_routes() {
    let Some(server) = start(BACKENDS[0], "openapi_wallets_transfers") else {
        return;
    };
    let doc = crate::util::get(&server.url("/openapi.json")).await;
    assert_eq!(doc.status, 200);
    let paths = &doc.json["paths"];
    for (path, method) in [
        ("/v1/wallets", "post"),
        ("/v1/wallets", "get"),
        ("/v1/wallets/{wallet_id}", "get"),
        ("/v1/wallets/{wallet_id}/transactions", "get"),
        ("/v1/transfers", "post"),
        ("/v1/transfers/{transfer_id}", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let params = paths["/v1/wallets/{wallet_id}/transactions"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    for (name, place) in [
        ("wallet_id", "path"),
        ("limit", "query"),
        ("starting_after", "query"),
    ] {
        let param = params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} documented"));
        assert_eq!(param["in"], place, "{name}");
    }
    let post = &paths["/v1/transfers"]["post"];
    let headers: Vec<&str> = post["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(headers.contains(&"Idempotency-Key"), "{headers:?}");
    assert!(headers.contains(&"Purse-Signature"), "{headers:?}");
    for status in ["201", "402", "409", "422"] {
        assert!(post["responses"][status].is_object(), "{status} documented");
    }
    let schemas = &doc.json["components"]["schemas"];
    for schema in [
        "Wallet",
        "Transfer",
        "WalletTransaction",
        "CreateTransferRequest",
    ] {
        assert!(schemas[schema].is_object(), "{schema} schema");
    }
}
