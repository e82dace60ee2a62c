//! Operator commands against a running server's database, on SQLite and PostgreSQL: `purse admin
//! freeze|unfreeze|reverse|audit`, `purse ledger verify` and the verification metrics,
//! `purse migrate` and `purse config check`. The commands run as the real `purse` binary; the
//! effects are observed over HTTP (a frozen wallet's debit answers 423 `wallet_frozen`).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::transfers::{balance, fund, member, new_key, open_wallet, send, start, usd};
use crate::util::{BACKENDS, CliOutput, assert_problem, create_pg_database, drop_pg_database, get};

/// A freeze reaches every process within the freeze cache's lifetime (1 s); wait a little more.
const FREEZE_VISIBLE_AFTER: Duration = Duration::from_millis(1_300);

/// Asserts a JSON answer with exit 0 and returns it.
fn ok(out: &CliOutput) -> Value {
    assert_eq!(out.status, 0, "stdout {} stderr {}", out.stdout, out.stderr);
    serde_json::from_str(out.stdout.trim()).expect("one JSON object on stdout")
}

/// Asserts a JSON refusal with exit 1 and `code`.
fn refused(out: &CliOutput, code: &str) {
    assert_eq!(out.status, 1, "stdout {} stderr {}", out.stdout, out.stderr);
    let json: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object on stdout");
    assert_eq!(json["error"]["code"], code, "{}", out.stdout);
}

#[actix_rt::test]
async fn a_frozen_wallet_cannot_be_debited_until_unfrozen() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "frozen_wallet") else {
            continue;
        };
        let base = server.base.as_str();
        let alice = member(base, "alice-freeze@example.com", 61).await;
        let bob = member(base, "bob-freeze@example.com", 62).await;
        let from = open_wallet(base, &alice, "USD").await;
        let to = open_wallet(base, &bob, "USD").await;
        fund(base, &from, "50.00").await;
        fund(base, &to, "5.00").await;
        let sent = send(
            base,
            &alice,
            Some(&new_key()),
            &usd(&from, json!(to), "10.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);

        let frozen = ok(&server.purse(&[
            "admin",
            "freeze",
            &from,
            "--reason",
            "fraud review #12",
            "--actor",
            "ops-anna",
        ]));
        assert_eq!(frozen["frozen"], true);
        assert_eq!(frozen["audit"]["action"], "wallet.freeze");
        assert_eq!(frozen["audit"]["actor"], "ops-anna");
        assert_eq!(frozen["audit"]["reason"], "fraud review #12");
        assert!(
            frozen["audit"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("aud_"))
        );
        std::thread::sleep(FREEZE_VISIBLE_AFTER);

        let refused_debit = send(
            base,
            &alice,
            Some(&new_key()),
            &usd(&from, json!(to), "5.00"),
        )
        .await;
        assert_problem(&refused_debit.reply, 423, "wallet_frozen");
        assert_eq!(balance(base, &alice, &from).await, "40.00");
        // Money still arrives in a frozen wallet.
        let credit = send(base, &bob, Some(&new_key()), &usd(&to, json!(from), "1.00")).await;
        assert_eq!(credit.reply.status, 201, "{}", credit.reply.text);
        assert_eq!(balance(base, &alice, &from).await, "41.00");

        let again = [
            "admin", "freeze", &from, "--reason", "again", "--actor", "ops-anna",
        ];
        refused(&server.purse(&again), "wallet_already_frozen");
        let no_reason = [
            "admin", "freeze", &to, "--reason", "  ", "--actor", "ops-anna",
        ];
        refused(&server.purse(&no_reason), "reason_invalid");
        let unknown = [
            "admin",
            "freeze",
            "wal_000000000000000000000000",
            "--reason",
            "x",
            "--actor",
            "a",
        ];
        refused(&server.purse(&unknown), "account_not_found");

        let thawed = ok(&server.purse(&[
            "admin", "unfreeze", &from, "--reason", "cleared", "--actor", "ops-ben",
        ]));
        assert_eq!(thawed["frozen"], false);
        assert_eq!(thawed["audit"]["action"], "wallet.unfreeze");
        let twice = [
            "admin", "unfreeze", &from, "--reason", "again", "--actor", "ops-ben",
        ];
        refused(&server.purse(&twice), "wallet_not_frozen");
        std::thread::sleep(FREEZE_VISIBLE_AFTER);
        let sent = send(
            base,
            &alice,
            Some(&new_key()),
            &usd(&from, json!(to), "5.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{backend:?}: {}", sent.reply.text);
        assert_eq!(balance(base, &alice, &from).await, "36.00");

        // The trail, newest first: refusals wrote nothing.
        let trail = ok(&server.purse(&["admin", "audit", "--target", &from]));
        let events = trail["data"].as_array().expect("data");
        let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions, ["wallet.unfreeze", "wallet.freeze"], "{trail}");
        assert_eq!(events[0]["actor"], "ops-ben");
        assert!(events[0]["created_at_ms"].as_i64() >= events[1]["created_at_ms"].as_i64());
        ok(&server.purse(&["ledger", "verify", "--format", "json"]));
    }
}

#[actix_rt::test]
async fn a_reversal_is_a_new_transfer_posted_once() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "reversal") else {
            continue;
        };
        let base = server.base.as_str();
        let alice = member(base, "alice-reverse@example.com", 71).await;
        let bob = member(base, "bob-reverse@example.com", 72).await;
        let from = open_wallet(base, &alice, "USD").await;
        let to = open_wallet(base, &bob, "USD").await;
        fund(base, &from, "30.00").await;
        let sent = send(
            base,
            &alice,
            Some(&new_key()),
            &usd(&from, json!(to), "12.50"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        let txn = sent.reply.json["id"]
            .as_str()
            .expect("transfer id")
            .to_owned();

        // Freezing the receiver does not stop the clean-up.
        ok(&server.purse(&[
            "admin",
            "freeze",
            &to,
            "--reason",
            "mistaken payee",
            "--actor",
            "ops",
        ]));
        let reversed = ok(&server.purse(&[
            "admin",
            "reverse",
            &txn,
            "--reason",
            "sent to the wrong person",
            "--actor",
            "ops",
        ]));
        let reversal = &reversed["reversal"];
        assert_eq!(reversal["kind"], "reversal");
        assert_eq!(reversal["reference"], format!("reversal:{txn}"));
        assert_eq!(reversal["debit_account"], to.as_str());
        assert_eq!(reversal["credit_account"], from.as_str());
        assert_eq!(reversal["amount"], "12.50");
        assert_ne!(reversal["id"], txn.as_str());
        assert_eq!(balance(base, &alice, &from).await, "30.00");
        assert_eq!(balance(base, &bob, &to).await, "0.00");

        // Twice is refused and moves nothing.
        let again = [
            "admin", "reverse", &txn, "--reason", "again", "--actor", "ops",
        ];
        refused(&server.purse(&again), "transfer_already_reversed");
        assert_eq!(balance(base, &alice, &from).await, "30.00");
        let unknown = [
            "admin",
            "reverse",
            "txn_000000000000000000000000",
            "--reason",
            "x",
            "--actor",
            "ops",
        ];
        refused(&server.purse(&unknown), "transfer_not_found");

        // The original is untouched and still readable by its parties.
        let original =
            crate::transfers::get_auth(base, &format!("/v1/transfers/{txn}"), &alice.token).await;
        assert_eq!(original.status, 200, "{}", original.text);
        assert_eq!(original.json["amount"], "12.50");

        let trail = ok(&server.purse(&["admin", "audit", "--target", &txn]));
        assert_eq!(trail["data"].as_array().map(Vec::len), Some(1), "{trail}");
        assert_eq!(trail["data"][0]["action"], "transfer.reverse");
        let detail: Value =
            serde_json::from_str(trail["data"][0]["detail"].as_str().expect("detail"))
                .expect("json");
        assert_eq!(detail["reversal_transfer_id"], reversal["id"]);

        // The ledger stays consistent, and /metrics reports the verification.
        let before = get(&server.url("/metrics")).await;
        assert!(
            !before.text.contains("purse_ledger_verify_ok"),
            "{}",
            before.text
        );
        let verified = ok(&server.purse(&["ledger", "verify", "--format", "json"]));
        assert_eq!(verified["ok"], true);
        assert_eq!(verified["transfers"], 3);
        assert_eq!(verified["wallet_totals_minor"]["USD"], "3000");
        let metrics = get(&server.url("/metrics")).await;
        assert!(
            metrics.text.contains("purse_ledger_verify_ok 1"),
            "{}",
            metrics.text
        );
        let last_run = metric_value(
            &metrics.text,
            "purse_ledger_verify_last_run_timestamp_seconds",
        );
        assert!(last_run > 1_700_000_000.0, "{last_run}");

        // A tampered balance: verify fails, names the account, and the metric turns 0.
        let db = server.db().open().await;
        purse_server::with_db!(&db, pool => sqlx::query(
            "UPDATE accounts SET balance_minor = balance_minor + 1 WHERE id = $1")
            .bind(&from)
            .execute(pool)
            .await
            .map(|_| ()))
        .expect("tamper");
        db.close().await;
        let out = server.purse(&["ledger", "verify", "--format", "json"]);
        assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
        let bad: Value = serde_json::from_str(out.stdout.trim()).expect("json");
        assert_eq!(bad["error"]["code"], "ledger_inconsistent");
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(&from)
        );
        let metrics = get(&server.url("/metrics")).await;
        assert!(
            metrics.text.contains("purse_ledger_verify_ok 0"),
            "{}",
            metrics.text
        );
    }
}

fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

/// `purse` with exactly the given `PURSE_*` environment.
fn purse_env(args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_purse"));
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PURSE_") {
            cmd.env_remove(key);
        }
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let output = cmd.output().expect("run purse");
    CliOutput {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn migrate_and_config_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let mut urls = vec![(format!("sqlite://{data}/purse.db"), None)];
    if let Some((url, name)) = create_pg_database("migrate_and_config_check") {
        urls.push((url, Some(name)));
    }
    for (url, pg_name) in &urls {
        let env = [
            ("PURSE_DATABASE_URL", url.as_str()),
            ("PURSE_DATA_DIR", data),
        ];
        let migrated = ok(&purse_env(&["migrate"], &env));
        assert_eq!(migrated["migrated"], true);
        let backend = if pg_name.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(migrated["backend"], backend);
        // Twice is a no-op.
        ok(&purse_env(&["migrate"], &env));
        let checked = purse_env(&["config", "check", "--connect"], &env);
        assert_eq!(checked.status, 0, "{}{}", checked.stdout, checked.stderr);
        assert!(checked.stdout.contains("config ok"), "{}", checked.stdout);
        assert!(
            checked.stdout.contains("database answers"),
            "{}",
            checked.stdout
        );
        if let Some(name) = pg_name {
            drop_pg_database(name);
        }
    }

    // Secrets never printed; values from file and environment both shown.
    let file = dir.path().join("purse.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9090\"\n[ledger]\nbatch_max = 500\n",
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");
    let secret_env = [
        (
            "PURSE_DATABASE_URL",
            "postgres://app:s3cr3t-pw@127.0.0.1:1/purse",
        ),
        (
            "PURSE_ADMIN_TOKEN",
            "tok-0123456789abcdef0123456789abcdef-secret",
        ),
        ("PURSE_WALLET_MAILBOX_MAX", "99"),
    ];
    let out = purse_env(&["config", "check", "--config", file], &secret_env);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    for expected in [
        "0.0.0.0:9090",
        "batch_max: 500",
        "mailbox_max: 99",
        "app:***@127.0.0.1:1",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected} in {}",
            out.stdout
        );
    }
    for secret in ["s3cr3t-pw", "tok-0123456789abcdef"] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} leaked"
        );
    }
    // Unreachable database with --connect: exit 1, password still hidden.
    let out = purse_env(
        &["config", "check", "--config", file, "--connect"],
        &secret_env,
    );
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("UNREACHABLE"), "{}", out.stdout);
    assert!(!out.stdout.contains("s3cr3t-pw") && !out.stderr.contains("s3cr3t-pw"));
    // Bad values: exit 1 naming the variable or the file.
    let out = purse_env(&["config", "check"], &[("PURSE_DB_POOL_MAX", "many")]);
    assert_eq!(out.status, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PURSE_DB_POOL_MAX"), "{}", out.stdout);
    let out = purse_env(
        &["config", "check", "--config", "/nonexistent/purse.toml"],
        &[],
    );
    assert_eq!(out.status, 1);
    assert!(out.stdout.contains("config_unreadable"), "{}", out.stdout);
}

/// Metric names the dashboard and alerts may use before this branch serves them: the top-up
/// helper adds these two (its own branch); every other name must be served by `/metrics`.
const METRICS_FROM_TOPUPS: [&str; 2] = ["purse_topups_total", "purse_settlement_mismatches_total"];

/// Every `purse_*` name in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("purse_") {
        let start = i + at;
        let word_start =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        if word_start {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[actix_rt::test]
async fn dashboard_and_alert_metrics_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dashboard =
        std::fs::read_to_string(root.join("deploy/grafana/purse.json")).expect("dashboard");
    let alerts =
        std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).expect("alerts");
    let dashboard_json: Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let exprs: Vec<&str> = dashboard_json["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"))
        .filter_map(|t| t["expr"].as_str())
        .collect();
    let mut used = metric_names(&exprs.join("\n"));
    let alert_names = metric_names(&alerts);
    assert!(
        alert_names.contains("purse_ledger_verify_ok"),
        "{alert_names:?}"
    );
    used.extend(alert_names);

    // What a server that has served requests, committed a batch and seen a verification exposes.
    let Some(server) = start(crate::util::Backend::Sqlite, "dashboard_metrics") else {
        return;
    };
    let base = server.base.as_str();
    let alice = member(base, "alice-metrics@example.com", 81).await;
    let wallet = open_wallet(base, &alice, "USD").await;
    fund(base, &wallet, "1.00").await;
    ok(&server.purse(&["ledger", "verify", "--format", "json"]));
    let metrics = get(&server.url("/metrics")).await;
    let served: std::collections::BTreeSet<String> = metrics
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    for name in &used {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| served.contains(*f)))
            .unwrap_or(name);
        assert!(
            served.contains(family) || METRICS_FROM_TOPUPS.contains(&family),
            "{name} is used by deploy/ but not served; served: {served:?}"
        );
    }
    assert!(used.len() >= 10, "{used:?}");
}
