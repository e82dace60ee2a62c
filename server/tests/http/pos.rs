//! The web POS at `/pos` in headless Chromium (Debian `chromium` driven by npm `playwright-core`
//! through `tests/browser/pos.mjs`): the page signs in with a POS key, shows a dynamic QR code for
//! an amount, this test reads the code from the page's PNG with rqrr and pays it through the API
//! with a device signature, and the page must turn "Paid" from the live event stream; then it
//! charges a pasted consumer pay code (receipt shown) and shows the refusal of its replay.
//! Screenshots go to `target/pos-*.png`. Also the page's security headers. Without Chromium,
//! Node or the npm packages the browser part prints why and passes, unless `CI=true`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::charges::paycode_of;
use crate::merchants::shop;
use crate::payments::{pay, payer, scan_png};
use crate::transfers::{balance, new_key, start};
use crate::util::{BACKENDS, Backend, client, read};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Why the browser test cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    let chromium = std::env::var("PURSE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "{chromium} is not installed (scripts/install-test-deps)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".to_owned());
    }
    let module = workspace().join("tests/browser/node_modules/playwright-core/package.json");
    if !module.exists() {
        return Some("tests/browser/node_modules is missing (scripts/install-test-deps)".into());
    }
    None
}

#[actix_rt::test]
async fn pos_page_is_served_with_a_content_security_policy() {
    let Some(server) = start(Backend::Sqlite, "pos_page_headers") else {
        return;
    };
    for path in ["/pos", "/pos/pos.js", "/pos/pos.css", "/pos/vendor/jsQR.js"] {
        let response = client().get(server.url(path)).send().await.expect("sent");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let reply = read(response).await;
        assert_eq!(reply.status, 200, "{path}");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!reply.text.is_empty());
    }
    let page = read(client().get(server.url("/pos")).send().await.expect("sent")).await;
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(page.text.contains("POS API key") && !page.text.contains("<script>"));
}

#[actix_rt::test]
async fn pos_in_chromium_shows_paid_live_and_charges_a_pasted_pay_code() {
    if let Some(reason) = browser_missing() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the POS browser test is required when CI=true: {reason}");
        }
        eprintln!("SKIPPED pos_in_chromium: {reason}");
        return;
    }
    for backend in BACKENDS {
        let Some(server) = start(backend, "pos_in_chromium") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "shop@example.com", 1).await;
        let (ana, ana_wallet) = payer(base, "ana@example.com", 2, "50.00").await;
        let shots = workspace().join("target");
        std::fs::create_dir_all(&shots).expect("target/");
        let mut node = Command::new("node")
            .arg(workspace().join("tests/browser/pos.mjs"))
            .args([
                base,
                &shop.id,
                &shop.pos,
                shots.to_str().expect("utf-8 path"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let mut stdin = node.stdin.take().expect("stdin");
        let mut lines = BufReader::new(node.stdout.take().expect("stdout")).lines();
        let mut next_step = |name: &str| -> Value {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{backend:?}: the browser script ended before {name}"))
                .expect("a line");
            let step: Value = serde_json::from_str(&line).expect("JSON line");
            assert_eq!(step["step"], name, "{line}");
            step
        };

        // The page shows a dynamic code; read it from the very PNG on the page and pay it.
        let qr = next_step("qr");
        let png = data_encoding::BASE64
            .decode(qr["png_base64"].as_str().expect("png").as_bytes())
            .expect("base64 PNG");
        let payload = scan_png(&png);
        let paid = pay(
            base,
            &ana,
            &new_key(),
            &json!({"payload": payload, "wallet": ana_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{backend:?}: {}", paid.text);
        assert_eq!(paid.json["amount"], "7.25");
        let shown = next_step("paid");
        assert_eq!(shown["text"], "Paid 7.25 USD", "{backend:?}");

        // The merchant scans (here: pastes) Ana's pay code.
        let code = paycode_of(&ana.phone.secret, 1, 0, None);
        writeln!(stdin, "{code}").expect("code sent to the page");
        let charged = next_step("charged");
        let text = charged["text"].as_str().expect("receipt text");
        assert!(
            text.starts_with("Charged 2.10 USD · receipt chg_"),
            "{text}"
        );
        let refused = next_step("refused");
        assert_eq!(
            refused["text"]
                .as_str()
                .map(|t| t.starts_with("Refused: paycode_replayed")),
            Some(true),
            "{refused}"
        );
        drop(stdin);
        assert!(node.wait().expect("node ends").success());
        assert_eq!(balance(base, &ana, &ana_wallet).await, "40.65");
        assert!(shots.join("pos-paid.png").exists());
    }
}
