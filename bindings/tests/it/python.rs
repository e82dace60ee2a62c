//! Python: `bindings/tests/python/bindings_test.py` drives the generated module `purse` (ctypes
//! over the cdylib of this build, copied beside it by scripts/gen-bindings).

use std::process::Command;

use crate::server::PurseServer;
use crate::util::{
    COMMON_CHECKS, Report, bindings, core_verifies_paycodes, emv_json_matches_core,
    missing_prerequisite, repo, runs, scratch,
};

#[test]
fn python_bindings_pass_every_check() {
    if !runs("python3", &["--version"]) {
        return missing_prerequisite("`python3` is not on PATH");
    }
    let dir = scratch("python-bindings");
    let output = Command::new("python3")
        .arg(repo().join("bindings/tests/python/bindings_test.py"))
        .arg(&dir)
        .env("PYTHONPATH", bindings().join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = Report::parse(&output);
    report.assert_all_passed(COMMON_CHECKS, &output);
    assert_eq!(core_verifies_paycodes(&report), 2, "{}", report.text);
    assert_eq!(emv_json_matches_core(&report), 2, "{}", report.text);
}

/// The checks of `client_flow_test.py`.
const CLIENT_FLOW_CHECKS: &[&str] = &[
    "client_signup_and_device",
    "client_wallet_funded",
    "client_transfer_signed_and_idempotent",
    "client_history_pages",
    "client_refusals_keep_server_codes",
    "client_threads_share_one_session",
    "client_pays_merchant_qr",
    "client_waits_for_events",
    "client_topup_confirmed_and_credited",
    "client_resume_and_logout",
];

/// PurseClient from Python against a real `purse serve`: the whole consumer flow, then the Rust
/// side checks what the server recorded (the transfer Python reported, over plain HTTP with the
/// operator's view of the ledger: `purse ledger verify`).
#[test]
fn python_client_full_flow() {
    if !runs("python3", &["--version"]) {
        return missing_prerequisite("`python3` is not on PATH");
    }
    let server = PurseServer::start();
    let output = Command::new("python3")
        .arg(repo().join("bindings/tests/python/client_flow_test.py"))
        .args([&server.url, &server.admin_token])
        .env("PYTHONPATH", bindings().join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = Report::parse(&output);
    report.assert_all_passed(CLIENT_FLOW_CHECKS, &output);
    let transfers = report.data("transfer");
    assert_eq!(transfers.len(), 1, "{}", report.text);
    assert!(transfers[0][0].starts_with("txn_"), "{}", report.text);
    let payments = report.data("payment");
    assert_eq!(payments.len(), 1, "{}", report.text);
    let [payment_id, transfer_id, merchant_wallet, amount] = payments[0] else {
        panic!("malformed payment line {:?}", payments[0]);
    };
    assert!(payment_id.starts_with("pay_") && transfer_id.starts_with("txn_"));
    assert!(merchant_wallet.starts_with("wal_"));
    assert_eq!(amount, "4.20");
    let topups = report.data("topup");
    assert_eq!(topups.len(), 1, "{}", report.text);
    let [topup_id, topup_transfer, topup_wallet, topup_amount] = topups[0] else {
        panic!("malformed topup line {:?}", topups[0]);
    };
    assert!(topup_id.starts_with("top_") && topup_transfer.starts_with("txn_"));
    assert!(topup_wallet.starts_with("wal_"));
    assert_eq!(topup_amount, "20.00");
    server.verify_ledger();
}
