//! Tests for `purse paycode new|verify`, driving the real binary: the code it prints is the
//! library's, and every verdict of `verify` carries the core error code.

use std::path::{Path, PathBuf};

use purse_core::keys::SecretKey;
use purse_core::money::{Amount, Currency};
use purse_core::paycode::{self, NewPayCode};
use purse_core::qr;
use serde_json::Value;

use crate::util::{Output, purse};

const NOW: u64 = 1_750_000_000;

fn key_file(dir: &Path, seed: u8) -> (PathBuf, SecretKey) {
    let secret = SecretKey::from_bytes(&[seed; 32]);
    let path = dir.join(format!("device-{seed}.key"));
    std::fs::write(&path, format!("{}\n", &*secret.to_text())).unwrap();
    (path, secret)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn new(key: &Path, counter: u32, more: &[&str]) -> Output {
    let mut args = vec![
        "paycode".to_owned(),
        "new".to_owned(),
        "--key".to_owned(),
        s(key).to_owned(),
        "--counter".to_owned(),
        counter.to_string(),
        "--now".to_owned(),
        NOW.to_string(),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    purse(args).run()
}

fn verify(code: &str, public: &str, more: &[&str]) -> Output {
    let mut args = vec![
        "paycode".to_owned(),
        "verify".to_owned(),
        code.to_owned(),
        "--public-key".to_owned(),
        public.to_owned(),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    purse(args).run()
}

fn code_of(answer: &Value) -> &str {
    answer["code"].as_str().expect("code is a string")
}

#[test]
fn new_prints_the_librarys_code_and_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 1);
    let answer = new(&key, 7, &["--cap", "25.00", "--currency", "USD"]).ok();
    let usd = Currency::from_code("USD").unwrap();
    let expected = paycode::generate(
        &secret,
        &NewPayCode {
            counter: 7,
            issued_at_unix: NOW,
            validity_secs: 60,
            cap: Some(Amount::parse("25.00", usd).unwrap()),
        },
    )
    .unwrap();
    assert_eq!(code_of(&answer), expected);
    assert_eq!(answer["key_id"], secret.key_id().to_string());
    assert_eq!(answer["counter"], 7);
    assert_eq!(answer["issued_at_unix"], NOW);
    assert_eq!(answer["validity_secs"], 60);
    assert_eq!(answer["expires_at_unix"], NOW + 60);
    assert_eq!(answer["cap"]["amount"], "25.00");
    assert_eq!(answer["cap"]["currency"], "USD");
    assert!(answer["qr_version"].as_u64().unwrap() <= 6);

    let uncapped = new(&key, 8, &["--validity", "120"]).ok();
    assert!(uncapped.get("cap").is_none());
    assert_eq!(uncapped["expires_at_unix"], NOW + 120);
}

#[test]
fn verify_accepts_a_fresh_code_and_names_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 2);
    let public = secret.public_key().to_string();
    let answer = new(&key, 10, &["--cap", "20.00", "--currency", "EUR"]).ok();
    let code = code_of(&answer);
    let at = |t: u64| t.to_string();

    let valid = verify(
        code,
        &public,
        &["--now", &at(NOW + 5), "--last-counter", "9"],
    )
    .ok();
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["counter"], 10);
    assert_eq!(valid["cap"]["amount"], "20.00");

    let charge = |amount: &str, currency: &str| {
        verify(
            code,
            &public,
            &[
                "--now",
                &at(NOW),
                "--amount",
                amount,
                "--currency",
                currency,
            ],
        )
    };
    charge("20.00", "EUR").ok();
    charge("20.01", "EUR").fails("paycode_over_limit");
    charge("1.00", "USD").fails("paycode_currency_mismatch");
    charge("1.001", "EUR").fails("amount_too_precise");

    verify(code, &public, &["--now", &at(NOW), "--last-counter", "10"]).fails("paycode_replayed");
    verify(code, &public, &["--now", &at(NOW + 60 + 30)]).fails("paycode_expired");
    verify(code, &public, &["--now", &at(NOW - 31)]).fails("paycode_not_yet_valid");
    let other = SecretKey::from_bytes(&[3; 32]).public_key().to_string();
    verify(code, &other, &["--now", &at(NOW)]).fails("paycode_wrong_key");
    verify(code, "short", &["--now", &at(NOW)]).fails("key_invalid");
    verify("PC1:HELLO", &public, &["--now", &at(NOW)]).fails("paycode_invalid");
    let refused = verify("", &public, &[]).fails("paycode_invalid");
    assert_eq!(refused["valid"], false);

    // One character of the signature changed: still base45, but no longer signed.
    let mut tampered = code.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let out = verify(&tampered, &public, &["--now", &at(NOW)]);
    assert_eq!(out.status, Some(1));
    let code_seen = out.json()["error"]["code"].clone();
    assert!(
        code_seen == "paycode_tampered" || code_seen == "paycode_invalid",
        "{out:#?}"
    );
}

#[test]
fn verify_reads_the_code_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 4);
    let answer = new(&key, 1, &[]).ok();
    let public = secret.public_key().to_string();
    let verdict = purse([
        "paycode",
        "verify",
        "-",
        "--public-key",
        &public,
        "--now",
        &NOW.to_string(),
    ])
    .stdin(format!("{}\n", code_of(&answer)))
    .run()
    .ok();
    assert_eq!(verdict["counter"], 1);
}

#[test]
fn new_writes_qr_images_that_hold_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 5);
    let png = dir.path().join("pay.png");
    let svg = dir.path().join("pay.svg");
    let answer = new(&key, 1, &["--png", s(&png), "--svg", s(&svg)]).ok();
    let code = code_of(&answer);
    assert_eq!(std::fs::read(&png).unwrap(), qr::render_png(code).unwrap());
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        qr::render_svg(code).unwrap()
    );
}

#[test]
fn new_refuses_what_a_pay_code_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 6);
    new(&key, 1, &["--validity", "0"]).fails("paycode_validity_invalid");
    new(&key, 1, &["--validity", "256"]).fails("paycode_validity_invalid");
    new(&key, 1, &["--cap", "0", "--currency", "USD"]).fails("amount_not_positive");
    new(&key, 1, &["--cap", "1", "--currency", "ABC"]).fails("currency_unknown");
    new(&dir.path().join("none.key"), 1, &[]).fails("key_file_unreadable");
    let too_late = purse([
        "paycode",
        "new",
        "--key",
        s(&key),
        "--counter",
        "1",
        "--now",
        "4294967296",
    ])
    .run();
    too_late.fails("paycode_issued_at_out_of_range");
}
