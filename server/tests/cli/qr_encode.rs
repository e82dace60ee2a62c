//! Tests for `purse qr encode` and `purse qr verify`, driving the real binary: the payload it
//! prints is the library's, its images are the library's renderings, and the verdicts of
//! `qr verify` carry the core error codes.

use std::path::{Path, PathBuf};

use purse_core::keys::SecretKey;
use purse_core::merchant_code::{self, CodeKind, NewMerchantCode};
use purse_core::money::{Amount, Currency};
use purse_core::qr;
use serde_json::Value;

use crate::util::purse;

const NOW: u64 = 1_750_000_000;

/// A key file with a fixed seed in `dir`; returns its path and the key.
pub(crate) fn key_file(dir: &Path, seed: u8) -> (PathBuf, SecretKey) {
    let secret = SecretKey::from_bytes(&[seed; 32]);
    let path = dir.join(format!("key-{seed}.key"));
    std::fs::write(&path, format!("{}\n", &*secret.to_text())).unwrap();
    (path, secret)
}

pub(crate) fn s(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The flags of a static code for Corner Coffee.
pub(crate) fn base_args() -> Vec<String> {
    [
        "qr",
        "encode",
        "--merchant-name",
        "Corner Coffee",
        "--city",
        "Lisbon",
        "--country",
        "PT",
        "--mcc",
        "5814",
        "--currency",
        "EUR",
        "--merchant-id",
        "mer_7Hq2LmX9pR4sT6vW",
    ]
    .map(String::from)
    .to_vec()
}

/// `args` with `more` (flag, value pairs) added; a flag already present gets the new value.
pub(crate) fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    for pair in more.chunks(2) {
        match args.iter().position(|a| a == pair[0]) {
            Some(i) => args[i + 1] = pair[1].to_owned(),
            None => args.extend(pair.iter().map(|a| a.to_string())),
        }
    }
    args
}

fn eur() -> &'static Currency {
    Currency::from_code("EUR").unwrap()
}

fn new_code(kind: CodeKind) -> NewMerchantCode<'static> {
    NewMerchantCode {
        merchant_id: "mer_7Hq2LmX9pR4sT6vW",
        merchant_name: "Corner Coffee",
        city: "Lisbon",
        country: "PT",
        mcc: "5814",
        currency: eur(),
        kind,
    }
}

pub(crate) fn payload_of(answer: &Value) -> &str {
    answer["payload"].as_str().expect("payload is a string")
}

#[test]
fn signed_static_code_is_the_librarys_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 1);
    let answer = purse(with(base_args(), &["--sign-key", s(&key)]))
        .run()
        .ok();
    let expected = merchant_code::generate(
        &secret,
        &new_code(CodeKind::Static {
            expires_at_unix: None,
        }),
    )
    .unwrap();
    assert_eq!(payload_of(&answer), expected);
    assert_eq!(answer["signed"], true);
    assert_eq!(answer["dynamic"], false);
    assert_eq!(answer["key_id"], secret.key_id().to_string());
    assert_eq!(
        answer["qr_version"],
        qr::Qr::new(&expected).unwrap().version()
    );
    assert!(answer.get("expires_at_unix").is_none());

    let public = secret.public_key().to_string();
    let verdict = purse(["qr", "verify", &expected, "--public-key", &public])
        .run()
        .ok();
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["merchant_id"], "mer_7Hq2LmX9pR4sT6vW");
    assert_eq!(verdict["merchant_name"], "Corner Coffee");
    assert_eq!(verdict["currency"], "EUR");
    assert_eq!(verdict["dynamic"], false);
    assert!(verdict.get("amount").is_none());
    // Any EMV reader sees a valid payload too.
    let decoded = purse(["qr", "decode", &expected]).run().ok();
    assert_eq!(decoded["merchant_account_info"]["26"]["00"], "app.purse");
}

#[test]
fn dynamic_code_carries_amount_reference_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 2);
    let now = NOW.to_string();
    let args = with(
        base_args(),
        &[
            "--sign-key",
            s(&key),
            "--amount",
            "12.50",
            "--reference",
            "order-1042",
            "--expires-in",
            "600",
            "--now",
            &now,
        ],
    );
    let answer = purse(args).run().ok();
    assert_eq!(answer["dynamic"], true);
    assert_eq!(answer["expires_at_unix"], NOW + 600);
    let expected = merchant_code::generate(
        &secret,
        &new_code(CodeKind::Dynamic {
            amount: Amount::parse("12.50", eur()).unwrap(),
            reference: "order-1042".to_owned(),
            expires_at_unix: NOW + 600,
        }),
    )
    .unwrap();
    assert_eq!(payload_of(&answer), expected);

    let public = secret.public_key().to_string();
    let at = |t: u64| {
        purse([
            "qr",
            "verify",
            &expected,
            "--public-key",
            &public,
            "--now",
            &t.to_string(),
        ])
        .run()
    };
    let verdict = at(NOW + 10).ok();
    assert_eq!(verdict["amount"]["amount"], "12.50");
    assert_eq!(verdict["amount"]["currency"], "EUR");
    assert_eq!(verdict["reference"], "order-1042");
    assert_eq!(verdict["expires_at_unix"], NOW + 600);
    let expired = at(NOW + 600 + 30).fails("merchant_code_expired");
    assert_eq!(expired["valid"], false);
}

#[test]
fn dynamic_code_expires_in_fifteen_minutes_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 3);
    let now = NOW.to_string();
    let args = with(
        base_args(),
        &[
            "--sign-key",
            s(&key),
            "--amount",
            "1.00",
            "--reference",
            "r1",
            "--now",
            &now,
        ],
    );
    assert_eq!(purse(args).run().ok()["expires_at_unix"], NOW + 900);
    // --expires-at is taken as given.
    let args = with(
        base_args(),
        &[
            "--sign-key",
            s(&key),
            "--amount",
            "1.00",
            "--reference",
            "r1",
            "--expires-at",
            "1750001234",
        ],
    );
    assert_eq!(purse(args).run().ok()["expires_at_unix"], 1_750_001_234u64);
}

#[test]
fn unsigned_code_is_valid_emv_but_not_verifiable() {
    let answer = purse(base_args()).run().ok();
    assert_eq!(answer["signed"], false);
    assert!(answer.get("key_id").is_none());
    let payload = payload_of(&answer);
    assert_eq!(
        payload,
        merchant_code::encode_unsigned(&new_code(CodeKind::Static {
            expires_at_unix: None
        }))
        .unwrap()
    );
    purse(["qr", "decode", payload]).run().ok();
    let public = SecretKey::from_bytes(&[4; 32]).public_key().to_string();
    purse(["qr", "verify", payload, "--public-key", &public])
        .run()
        .fails("merchant_code_unsigned");
}

#[test]
fn images_are_written_and_are_the_librarys_renderings() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 5);
    let png = dir.path().join("code.png");
    let svg = dir.path().join("code.svg");
    let args = with(
        base_args(),
        &["--sign-key", s(&key), "--png", s(&png), "--svg", s(&svg)],
    );
    let answer = purse(args).run().ok();
    assert_eq!(answer["png"], s(&png));
    assert_eq!(answer["svg"], s(&svg));
    let payload = payload_of(&answer);
    assert_eq!(
        std::fs::read(&png).unwrap(),
        qr::render_png(payload).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&svg).unwrap(),
        qr::render_svg(payload).unwrap()
    );
}

#[test]
fn refusals_are_json_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 6);
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            with(base_args(), &["--amount", "1.00"]),
            "reference_missing",
        ),
        (with(base_args(), &["--reference", "r"]), "amount_missing"),
        (
            with(base_args(), &["--amount", "1.005", "--reference", "r"]),
            "amount_too_precise",
        ),
        (
            with(base_args(), &["--amount", "-1", "--reference", "r"]),
            "amount_not_positive",
        ),
        (
            with(base_args(), &["--amount", "1,5", "--reference", "r"]),
            "amount_malformed",
        ),
        (
            with(
                base_args(),
                &["--merchant-name", "An Extremely Long Cafe Name"],
            ),
            "merchant_code_field_invalid",
        ),
        (
            with(base_args(), &["--currency", "XYZ"]),
            "currency_unknown",
        ),
        (
            with(base_args(), &["--country", "Portugal"]),
            "merchant_code_field_invalid",
        ),
        (
            with(
                base_args(),
                &["--sign-key", s(&dir.path().join("missing.key"))],
            ),
            "key_file_unreadable",
        ),
        (
            with(base_args(), &["--sign-key", s(&garbage)]),
            "secret_key_invalid",
        ),
        (
            with(
                base_args(),
                &[
                    "--sign-key",
                    s(&key),
                    "--png",
                    s(&dir.path().join("no/such/dir.png")),
                ],
            ),
            "file_write_failed",
        ),
    ];
    for (args, code) in cases {
        let out = purse(&args).run();
        let json = out.fails(code);
        assert!(json.get("payload").is_none(), "{args:?}");
    }
}

#[test]
fn currency_may_be_numeric() {
    let answer = purse(with(base_args(), &["--currency", "978"])).run().ok();
    let decoded = purse(["qr", "decode", payload_of(&answer)]).run().ok();
    assert_eq!(decoded["currency"], "978");
}

#[test]
fn verify_reports_each_refusal_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = key_file(dir.path(), 7);
    let answer = purse(with(base_args(), &["--sign-key", s(&key)]))
        .run()
        .ok();
    let payload = payload_of(&answer).to_owned();
    let public = secret.public_key().to_string();
    let other = SecretKey::from_bytes(&[8; 32]).public_key().to_string();
    let verify =
        |payload: &str, key: &str| purse(["qr", "verify", payload, "--public-key", key]).run();

    verify(&payload, &other).fails("merchant_code_wrong_key");
    verify(&payload, "not-a-key").fails("key_invalid");
    // Another scheme's code (PromptPay).
    verify(
        "00020101021129370016A000000677010111011300668912345675802TH5303764630429C1",
        &public,
    )
    .fails("not_purse_code");
    // A changed name with the CRC left alone, and with the CRC recomputed.
    let tampered = payload.replacen("Corner Coffee", "Corner Toffee", 1);
    verify(&tampered, &public).fails("crc_mismatch");
    let without_crc = &tampered[..tampered.len() - 8];
    let recrc = purse_core::emv::append_crc(without_crc.to_owned());
    verify(&recrc, &public).fails("merchant_code_bad_signature");
    // From standard input, with the newline `echo` adds.
    let verdict = purse(["qr", "verify", "-", "--public-key", &public])
        .stdin(format!("{payload}\n"))
        .run()
        .ok();
    assert_eq!(verdict["valid"], true);
}
