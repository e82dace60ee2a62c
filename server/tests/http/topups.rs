//! Top-ups over real HTTP with the sandbox acquirer mounted under `/sandbox`, on SQLite and
//! PostgreSQL: the whole lifecycle (top-up, confirm, webhook, credit, chargeback with a short
//! balance, settlement import twice, `purse ledger verify`), declines leaving no ledger trace,
//! every webhook fault mode, signature / timestamp / unknown-type handling, and a settlement
//! report with every kind of mismatch asserted line by line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::identity::signed_post;
use crate::transfers::{Member, balance, get_auth, member, new_key, open_wallet, send, usd};
use crate::util::{BACKENDS, Reply, TestServer, assert_problem, client, read};

fn api_key() -> String {
    purse_server::config::SandboxConfig::default().api_key
}

fn secret() -> String {
    purse_server::config::SandboxConfig::default().webhook_secrets[0].clone()
}

fn now_ms() -> i64 {
    purse_server::ledger::now_ms()
}

/// `POST /v1/topups` for `who`.
pub async fn topup(base: &str, who: &Member, wallet: &str, amount: &str, method: &str) -> Reply {
    signed_post(
        base,
        "/v1/topups",
        &who.token,
        &who.phone,
        &json!({"wallet": wallet, "amount": amount, "method": method}),
        &[("idempotency-key", new_key())],
    )
    .await
    .reply
}

/// A sandbox call with the API key.
pub async fn sandbox(base: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let url = format!("{base}/sandbox{path}");
    let request = match method {
        "GET" => client().get(url),
        _ => client().post(url),
    }
    .insert_header(("authorization", format!("Bearer {}", api_key())));
    let response = match body {
        Some(body) => request.send_json(&body).await,
        None => request.send().await,
    };
    read(response.expect("sandbox call sent")).await
}

/// The payer's confirm step on the provider's page.
pub async fn confirm(url: &str, outcome: &str) -> Reply {
    let page = read(client().get(url).send().await.expect("page")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Approve"), "{}", page.text);
    read(
        client()
            .post(url)
            .send_json(&json!({ "outcome": outcome }))
            .await
            .expect("confirm sent"),
    )
    .await
}

pub fn intent_of(reply: &Reply) -> String {
    let url = reply.json["next_action"]["url"]
        .as_str()
        .expect("next action");
    let id = url
        .trim_end_matches("/confirm")
        .rsplit('/')
        .next()
        .expect("intent id");
    id.to_owned()
}

/// Polls the top-up until its status is `want` (webhooks are asynchronous).
pub async fn wait_status(base: &str, who: &Member, id: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let reply = get_auth(base, &format!("/v1/topups/{id}"), &who.token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        if reply.json["status"] == want {
            return reply.json;
        }
        last = reply.json;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("top-up {id} never became {want}: {last}");
}

async fn history_len(base: &str, who: &Member, wallet: &str) -> usize {
    let reply = get_auth(
        base,
        &format!("/v1/wallets/{wallet}/transactions"),
        &who.token,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json["data"].as_array().expect("data").len()
}

/// Downloads today's settlement report from the sandbox into `dir`.
async fn report_file(base: &str, dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let day = purse_server::settlement::csv::Day::of_ms(now_ms());
    let reply = sandbox(base, "GET", &format!("/v1/settlement-reports/{day}"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let path = dir.join("report.csv");
    std::fs::write(&path, &reply.text).expect("report written");
    (path, reply.text)
}

pub fn import(server: &TestServer, file: &std::path::Path, out: &std::path::Path) -> Value {
    let output = server.purse(&[
        "settle",
        "import",
        file.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
        "--quiet",
    ]);
    assert_eq!(output.status, 0, "{}{}", output.stdout, output.stderr);
    serde_json::from_str(&output.stdout).expect("summary JSON")
}

pub fn verify_ledger(server: &TestServer) {
    let output = server.purse(&["ledger", "verify"]);
    assert_eq!(output.status, 0, "{}{}", output.stdout, output.stderr);
    assert!(output.stdout.starts_with("ledger ok"), "{}", output.stdout);
}

#[actix_rt::test]
async fn topup_lifecycle_chargeback_with_short_balance_and_settlement() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "topup_lifecycle") else {
            continue;
        };
        let base = server.base.as_str();
        let ann = member(base, "ann@example.com", 1).await;
        let bob = member(base, "bob@example.com", 2).await;
        let wallet = open_wallet(base, &ann, "USD").await;
        let bob_wallet = open_wallet(base, &bob, "USD").await;

        let created = topup(base, &ann, &wallet, "20.00", "card").await;
        assert_eq!(created.status, 201, "{backend:?}: {}", created.text);
        assert_eq!(created.json["status"], "pending");
        assert_eq!(created.json["amount"], "20.00");
        assert_eq!(created.json["next_action"]["type"], "redirect");
        let id = created.json["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("top_"));
        let url = created.json["next_action"]["url"].as_str().expect("url");
        assert!(
            url.starts_with(&format!("{base}/sandbox/intents/")),
            "{url}"
        );

        let confirmed = confirm(url, "approve").await;
        assert_eq!(confirmed.json["status"], "captured", "{}", confirmed.text);
        let done = wait_status(base, &ann, &id, "succeeded").await;
        assert!(
            done["transfer_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("txn_"))
        );
        assert!(done.get("next_action").is_none());
        assert_eq!(balance(base, &ann, &wallet).await, "20.00");
        // Confirming again is refused by the provider and changes nothing.
        assert_eq!(confirm(url, "approve").await.status, 409);

        // A card top-up declined: failed, and no trace in the ledger.
        let before = history_len(base, &ann, &wallet).await;
        let declined = topup(base, &ann, &wallet, "5.00", "bank_transfer").await;
        assert_eq!(declined.status, 201, "{}", declined.text);
        let declined_id = declined.json["id"].as_str().expect("id").to_owned();
        let url = declined.json["next_action"]["url"].as_str().expect("url");
        assert_eq!(confirm(url, "decline").await.json["status"], "declined");
        let failed = wait_status(base, &ann, &declined_id, "failed").await;
        assert_eq!(failed["failure_code"], "payment_declined");
        assert_eq!(history_len(base, &ann, &wallet).await, before);
        assert_eq!(balance(base, &ann, &wallet).await, "20.00");

        // Ann spends 15.00, then the card holder's bank charges the 20.00 back: the wallet gives
        // its 5.00, the other 15.00 is a chargeback loss.
        let sent = send(
            base,
            &ann,
            Some(&new_key()),
            &usd(&wallet, json!(bob_wallet), "15.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        let intent = intent_of(&created);
        let back = sandbox(base, "POST", &format!("/intents/{intent}/chargeback"), None).await;
        assert_eq!(back.json["status"], "charged_back", "{}", back.text);
        wait_status(base, &ann, &id, "charged_back").await;
        assert_eq!(balance(base, &ann, &wallet).await, "0.00");

        // Events to the owner, once each, after the money moved.
        let db = server.db().open().await;
        let events = purse_server::events::Events::new(db.clone())
            .after(&ann.user_id, 0, 100)
            .await
            .expect("events");
        let types: Vec<&str> = events.iter().map(|e| e.event.type_.as_str()).collect();
        assert_eq!(
            types,
            ["topup.succeeded", "topup.failed", "topup.charged_back"],
            "{backend:?}"
        );
        assert_eq!(events[0].event.data["id"], id.as_str());
        assert_eq!(events[0].event.data["status"], "succeeded");
        db.close().await;

        // The others' view: not found.
        let other = get_auth(base, &format!("/v1/topups/{id}"), &bob.token).await;
        assert_problem(&other, 404, "not_found");

        // Settlement: today's report holds the capture and the chargeback.
        let dir = tempfile::tempdir().expect("dir");
        let (file, text) = report_file(base, dir.path()).await;
        assert_eq!(text.lines().count(), 3, "{text}");
        let first = import(&server, &file, dir.path());
        assert_eq!(first["already_imported"], false, "{first}");
        assert_eq!(first["counts"]["matched"], 2, "{first}");
        for kind in [
            "unknown",
            "amount_mismatch",
            "duplicate",
            "malformed",
            "missing",
        ] {
            assert_eq!(first["counts"][kind], 0, "{kind}: {first}");
        }
        // Card fee 2.9 % + 0.30 of 20.00 = 0.88; chargeback fee 15.00.
        assert_eq!(first["posted"]["USD"]["captures_minor"], 2000);
        assert_eq!(first["posted"]["USD"]["reversals_minor"], 2000);
        assert_eq!(first["posted"]["USD"]["fees_minor"], 88 + 1500);
        let second = import(&server, &file, dir.path());
        assert_eq!(second["already_imported"], true, "{second}");
        assert_eq!(second["posted"], first["posted"]);

        let metrics = crate::util::get(&server.url("/metrics")).await.text;
        for line in [
            "purse_topups_total{state=\"succeeded\"} 1",
            "purse_topups_total{state=\"failed\"} 1",
            "purse_topups_total{state=\"charged_back\"} 1",
        ] {
            assert!(metrics.contains(line), "{line} in {metrics}");
        }
        let doc = crate::util::get(&server.url("/openapi.json")).await;
        assert!(doc.json["paths"]["/v1/topups"]["post"].is_object());
        assert!(doc.json["paths"]["/v1/providers/sandbox/webhooks"]["post"].is_object());
        verify_ledger(&server);
    }
}

#[actix_rt::test]
async fn topup_input_errors_change_nothing() {
    let Some(server) = TestServer::start(crate::util::Backend::Sqlite, "topup_input_errors") else {
        return;
    };
    let base = server.base.as_str();
    let ann = member(base, "ann@example.com", 1).await;
    let bob = member(base, "bob@example.com", 2).await;
    let wallet = open_wallet(base, &ann, "USD").await;
    assert_problem(
        &topup(base, &ann, &wallet, "20.00", "cash").await,
        400,
        "method_invalid",
    );
    assert_problem(
        &topup(base, &ann, &wallet, "20.001", "card").await,
        400,
        "amount_too_precise",
    );
    assert_problem(
        &topup(base, &bob, &wallet, "20.00", "card").await,
        404,
        "not_found",
    );
    assert_eq!(history_len(base, &ann, &wallet).await, 0);
}

/// Sends `body` to the webhook endpoint with `header` as its signature.
async fn deliver(base: &str, header: Option<String>, body: &str) -> Reply {
    let mut request = client()
        .post(format!("{base}/v1/providers/sandbox/webhooks"))
        .insert_header(("content-type", "application/json"));
    if let Some(header) = header {
        request = request.insert_header(("sandbox-signature", header));
    }
    read(request.send_body(body.to_owned()).await.expect("sent")).await
}

#[actix_rt::test]
async fn webhook_signature_timestamp_unknown_type_and_duplicates() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "webhook_signatures") else {
            continue;
        };
        let base = server.base.as_str();
        let ann = member(base, "ann@example.com", 1).await;
        let wallet = open_wallet(base, &ann, "USD").await;
        let created = topup(base, &ann, &wallet, "10.00", "card").await;
        let id = created.json["id"].as_str().expect("id").to_owned();
        let intent_id = intent_of(&created);
        // Capture at the provider without a webhook reaching Purse (bad signature on delivery).
        let faults = sandbox(
            base,
            "POST",
            "/admin/faults",
            Some(json!({"bad_signature": true})),
        )
        .await;
        assert_eq!(faults.json["bad_signature"], true, "{}", faults.text);
        confirm(
            created.json["next_action"]["url"].as_str().unwrap(),
            "approve",
        )
        .await;
        // The sandbox's deliveries were refused with 400.
        let mut refused = false;
        for _ in 0..100 {
            let log = sandbox(base, "GET", "/admin/deliveries", None).await;
            if log.json["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x["status"] == 400))
            {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(refused, "a bad signature is refused with 400");
        sandbox(base, "POST", "/admin/faults", Some(json!({}))).await;
        let intent = sandbox(base, "GET", &format!("/v1/intents/{intent_id}"), None).await;
        let event = json!({
            "id": "sbxevt_manual_1",
            "type": "intent.captured",
            "created_at_ms": now_ms(),
            "intent": intent.json,
        })
        .to_string();
        let t = now_ms() / 1000;
        let sign = |secrets: &[String], t: i64, body: &str| {
            purse_server::providers::sign(secrets, t, body.as_bytes())
        };
        assert_problem(
            &deliver(base, None, &event).await,
            400,
            "webhook_signature_missing",
        );
        assert_problem(
            &deliver(
                base,
                Some(sign(&["whsec_wrong_secret_000000".to_owned()], t, &event)),
                &event,
            )
            .await,
            400,
            "webhook_signature_invalid",
        );
        assert_problem(
            &deliver(base, Some(sign(&[secret()], t - 3600, &event)), &event).await,
            400,
            "webhook_timestamp_out_of_tolerance",
        );
        assert_problem(
            &deliver(base, Some("t=1,v1=zz".to_owned()), &event).await,
            400,
            "webhook_signature_malformed",
        );
        // Nothing moved so far.
        assert_eq!(
            get_auth(base, &format!("/v1/topups/{id}"), &ann.token)
                .await
                .json["status"],
            "pending"
        );
        assert_eq!(balance(base, &ann, &wallet).await, "0.00");
        // Rotation: signed with a new and the old secret, accepted.
        let rotated = sign(
            &["whsec_next_secret_0000000".to_owned(), secret()],
            t,
            &event,
        );
        let applied = deliver(base, Some(rotated.clone()), &event).await;
        assert_eq!(applied.status, 200, "{}", applied.text);
        assert_eq!(applied.json["outcome"], "applied");
        let again = deliver(base, Some(rotated), &event).await;
        assert_eq!(again.json["outcome"], "duplicate", "{}", again.text);
        assert_eq!(balance(base, &ann, &wallet).await, "10.00");
        // Unknown event types are acknowledged and ignored.
        let unknown =
            json!({"id": "sbxevt_x", "type": "intent.teleported", "data": {}}).to_string();
        let ignored = deliver(base, Some(sign(&[secret()], t, &unknown)), &unknown).await;
        assert_eq!(ignored.status, 200, "{}", ignored.text);
        assert_eq!(ignored.json["outcome"], "ignored");
        assert_eq!(balance(base, &ann, &wallet).await, "10.00");
        verify_ledger(&server);
    }
}

#[actix_rt::test]
async fn webhook_fault_modes_end_in_the_providers_state() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "webhook_fault_modes") else {
            continue;
        };
        let base = server.base.as_str();
        let ann = member(base, "ann@example.com", 1).await;
        let wallet = open_wallet(base, &ann, "USD").await;

        // Duplicate delivery: credited once.
        sandbox(
            base,
            "POST",
            "/admin/faults",
            Some(json!({"duplicate": true})),
        )
        .await;
        let dup = topup(base, &ann, &wallet, "3.00", "card").await;
        confirm(dup.json["next_action"]["url"].as_str().unwrap(), "approve").await;
        wait_status(base, &ann, dup.json["id"].as_str().unwrap(), "succeeded").await;
        // Let the second copy land, then check the balance.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(balance(base, &ann, &wallet).await, "3.00");

        // Delay: pending until the late webhook lands.
        sandbox(
            base,
            "POST",
            "/admin/faults",
            Some(json!({"delay_ms": 400})),
        )
        .await;
        let late = topup(base, &ann, &wallet, "4.00", "card").await;
        let late_id = late.json["id"].as_str().unwrap().to_owned();
        confirm(late.json["next_action"]["url"].as_str().unwrap(), "approve").await;
        let still = get_auth(base, &format!("/v1/topups/{late_id}"), &ann.token).await;
        assert_eq!(still.json["status"], "pending");
        wait_status(base, &ann, &late_id, "succeeded").await;
        assert_eq!(balance(base, &ann, &wallet).await, "7.00");

        // Out of order: the capture is held back and arrives after the chargeback.
        sandbox(
            base,
            "POST",
            "/admin/faults",
            Some(json!({"out_of_order": true})),
        )
        .await;
        let ooo = topup(base, &ann, &wallet, "5.00", "card").await;
        let ooo_id = ooo.json["id"].as_str().unwrap().to_owned();
        confirm(ooo.json["next_action"]["url"].as_str().unwrap(), "approve").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let held = get_auth(base, &format!("/v1/topups/{ooo_id}"), &ann.token).await;
        assert_eq!(
            held.json["status"], "pending",
            "the capture webhook is held back"
        );
        let intent = intent_of(&ooo);
        sandbox(base, "POST", &format!("/intents/{intent}/chargeback"), None).await;
        wait_status(base, &ann, &ooo_id, "charged_back").await;
        // Credited 5.00 then took 5.00 back: net unchanged, and the late capture changes nothing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(balance(base, &ann, &wallet).await, "7.00");
        assert_eq!(
            get_auth(base, &format!("/v1/topups/{ooo_id}"), &ann.token)
                .await
                .json["status"],
            "charged_back"
        );

        // Bad signature: refused, pending; once deliveries are fixed a later event settles it.
        sandbox(
            base,
            "POST",
            "/admin/faults",
            Some(json!({"bad_signature": true})),
        )
        .await;
        let bad = topup(base, &ann, &wallet, "6.00", "card").await;
        let bad_id = bad.json["id"].as_str().unwrap().to_owned();
        confirm(bad.json["next_action"]["url"].as_str().unwrap(), "approve").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            get_auth(base, &format!("/v1/topups/{bad_id}"), &ann.token)
                .await
                .json["status"],
            "pending"
        );
        assert_eq!(balance(base, &ann, &wallet).await, "7.00");
        sandbox(base, "POST", "/admin/faults", Some(json!({}))).await;
        let intent = intent_of(&bad);
        sandbox(base, "POST", &format!("/intents/{intent}/chargeback"), None).await;
        // The chargeback event finds the top-up pending: the provider's truth is "charged back",
        // so it is credited and taken back, ending charged_back with the balance unchanged.
        wait_status(base, &ann, &bad_id, "charged_back").await;
        assert_eq!(balance(base, &ann, &wallet).await, "7.00");
        verify_ledger(&server);
    }
}

#[actix_rt::test]
async fn settlement_report_with_every_kind_of_mismatch() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "settlement_mismatches") else {
            continue;
        };
        let base = server.base.as_str();
        let ann = member(base, "ann@example.com", 1).await;
        let wallet = open_wallet(base, &ann, "USD").await;
        let mut tops = Vec::new();
        for amount in ["10.00", "11.00", "12.00"] {
            let created = topup(base, &ann, &wallet, amount, "card").await;
            confirm(
                created.json["next_action"]["url"].as_str().unwrap(),
                "approve",
            )
            .await;
            let id = created.json["id"].as_str().unwrap().to_owned();
            wait_status(base, &ann, &id, "succeeded").await;
            tops.push((id, intent_of(&created)));
        }
        let dir = tempfile::tempdir().expect("dir");
        let (_, text) = report_file(base, dir.path()).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let line_of = |intent: &str| {
            lines
                .iter()
                .find(|l| l.contains(intent))
                .copied()
                .expect("a line per capture")
                .to_owned()
        };
        let rid = lines[1].split(',').next().unwrap().to_owned();
        let date = lines[1].split(',').nth(1).unwrap().to_owned();
        // Line 1: matched. Line 2: amount mismatch (11.00 reported as 11.50). Line 3: the
        // first capture again (duplicate). Line 4: unknown reference. Line 5: malformed.
        // Line 6: a refund (Purse never refunds top-ups: unknown). The third top-up is missing.
        let crafted = [
            lines[0].to_owned(),
            line_of(&tops[0].1),
            line_of(&tops[1].1).replace(",11.00,0.62,10.38", ",11.50,0.63,10.87"),
            line_of(&tops[0].1),
            format!("{rid},{date},capture,pi_nobodyknowsthis,USD,1.00,0.33,0.67"),
            format!("{rid},{date},capture,pi_x,USD,1.00,0.33,0.99"),
            format!("{rid},{date},refund,{},USD,-10.00,0.00,-10.00", tops[0].1),
        ]
        .join("\n")
            + "\n";
        assert!(
            crafted.contains(",11.50,"),
            "the fee line changed: {crafted}"
        );
        let file = dir.path().join("crafted.csv");
        std::fs::write(&file, &crafted).expect("written");
        let summary = import(&server, &file, dir.path());
        assert_eq!(summary["lines"], 6, "{summary}");
        for (kind, count) in [
            ("matched", 1),
            ("amount_mismatch", 1),
            ("duplicate", 1),
            ("unknown", 2),
            ("malformed", 1),
            ("missing", 1),
        ] {
            assert_eq!(summary["counts"][kind], count, "{kind}: {summary}");
        }
        // Only the matched line is posted.
        assert_eq!(
            summary["posted"]["USD"]["captures_minor"], 1000,
            "{summary}"
        );
        assert_eq!(summary["posted"]["USD"]["fees_minor"], 59, "{summary}");

        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{rid}.json"))).expect("json report"),
        )
        .expect("JSON");
        let findings = report["findings"].as_array().expect("findings");
        let expect = [
            (1, "matched", tops[0].0.as_str()),
            (2, "amount_mismatch", tops[1].0.as_str()),
            (3, "duplicate", tops[0].0.as_str()),
            (4, "unknown", ""),
            (5, "malformed", ""),
            (6, "unknown", tops[0].0.as_str()),
            (0, "missing", tops[2].0.as_str()),
        ];
        assert_eq!(findings.len(), expect.len(), "{report}");
        for (finding, (line, kind, top)) in findings.iter().zip(expect) {
            assert_eq!(finding["line"], line, "{finding}");
            assert_eq!(finding["kind"], kind, "{finding}");
            assert_eq!(finding["topup"], top, "{finding}");
        }
        assert_eq!(findings[1]["expected_minor"], 1100);
        assert_eq!(findings[1]["reported_minor"], 1150);
        let csv = std::fs::read_to_string(dir.path().join(format!("{rid}.csv"))).expect("csv");
        assert_eq!(csv.lines().count(), 1 + expect.len(), "{csv}");
        assert!(
            csv.lines()
                .nth(2)
                .unwrap()
                .starts_with("2,amount_mismatch,capture,"),
            "{csv}"
        );

        // The same report again changes nothing.
        let again = import(&server, &file, dir.path());
        assert_eq!(again["already_imported"], true);
        assert_eq!(again["counts"], summary["counts"]);
        let metrics = crate::util::get(&server.url("/metrics")).await.text;
        // The CLI process counted its own; the server's counter is exported all the same.
        assert!(
            metrics.contains("purse_topups_total{state=\"succeeded\"} 3"),
            "{metrics}"
        );
        verify_ledger(&server);
    }
}

/// Stops the child process on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_rt::test]
async fn standalone_sandbox_provider_process() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let provider = format!("http://127.0.0.1:{port}/sandbox");
    let Some(server) = TestServer::start_with(
        crate::util::Backend::Sqlite,
        "standalone_sandbox",
        |config| {
            config.sandbox.enabled = false;
            config.sandbox.provider_url = Some(provider.clone());
        },
    ) else {
        return;
    };
    let base = server.base.as_str();
    // Not mounted here any more.
    assert_eq!(
        crate::util::get(&server.url("/sandbox/admin/faults"))
            .await
            .status,
        404
    );
    // The acquirer as its own process, with its own database.
    let dir = tempfile::tempdir().expect("dir");
    let _child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_purse"))
            .args(["sandbox-provider", "--listen", &format!("127.0.0.1:{port}")])
            .env("PURSE_DATA_DIR", dir.path())
            .env_remove("PURSE_DATABASE_URL")
            .env(
                "PURSE_SANDBOX_WEBHOOK_URL",
                server.url("/v1/providers/sandbox/webhooks"),
            )
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sandbox-provider starts"),
    );
    let mut up = false;
    for _ in 0..200 {
        if client()
            .get(format!("{provider}/admin/faults"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the sandbox process listens");
    let ann = member(base, "ann@example.com", 1).await;
    let wallet = open_wallet(base, &ann, "EUR").await;
    let created = topup(base, &ann, &wallet, "7.50", "bank_transfer").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let url = created.json["next_action"]["url"].as_str().expect("url");
    assert!(url.starts_with(&provider), "{url}");
    confirm(url, "approve").await;
    wait_status(
        base,
        &ann,
        created.json["id"].as_str().unwrap(),
        "succeeded",
    )
    .await;
    assert_eq!(balance(base, &ann, &wallet).await, "7.50");
}
