//! Interoperability: merchant codes made by the real `purse qr encode` binary are read by an EMV
//! parser Purse did not write — the npm package promptparse, run by Node.js through
//! `tests/node/emv-parse.mjs` — which must accept them (structure and CRC) and read the same
//! merchant name, amount and currency; and it must refuse a code whose CRC is broken, so this test
//! can fail. It needs `node` and `tests/node/node_modules` (scripts/install-test-deps); without
//! them it says why it checks nothing, and fails when `CI=true`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::qr_encode::{base_args, key_file, payload_of, s, with};
use crate::util::{missing_prerequisite, purse};

/// The parser and version `tests/node/package-lock.json` pins.
const PARSER: &str = "promptparse@1.6.0";

const NOW: &str = "1750000000";

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/node")
}

/// promptparse's reading of each payload (see `tests/node/emv-parse.mjs` for the shape), or `None`
/// when Node.js or the package is not installed (after [`missing_prerequisite`]).
fn promptparse(payloads: &[String]) -> Option<Vec<Value>> {
    let dir = node_dir();
    if !dir.join("node_modules/promptparse/package.json").is_file() {
        missing_prerequisite("promptparse is not installed in tests/node/node_modules");
        return None;
    }
    let child = Command::new("node")
        .arg(dir.join("emv-parse.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            missing_prerequisite("`node` (Node.js) is not on PATH");
            return None;
        }
        Err(err) => panic!("cannot start node: {err}"),
    };
    let input = serde_json::to_vec(payloads).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "emv-parse.mjs failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout).expect("emv-parse.mjs prints JSON");
    assert_eq!(
        answer["parser"], PARSER,
        "tests/node installed another version"
    );
    let results = answer["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), payloads.len());
    Some(results)
}

/// One generated code and what any EMV reader must find in it.
struct Case {
    label: &'static str,
    args: Vec<String>,
    merchant_name: &'static str,
    city: &'static str,
    country: &'static str,
    /// ISO 4217 numeric code, as tag 53 carries it.
    currency_numeric: &'static str,
    amount: Option<&'static str>,
    reference: Option<&'static str>,
}

fn cases(key: &str) -> Vec<Case> {
    let coffee = |label, more: &[&str], amount, reference| Case {
        label,
        args: with(base_args(), more),
        merchant_name: "Corner Coffee",
        city: "Lisbon",
        country: "PT",
        currency_numeric: "978",
        amount,
        reference,
    };
    // Signed dynamic codes: (label, --currency, its numeric code, --amount, --reference).
    let sushi = [
        ("JPY, 0 decimals", "JPY", "392", "1500", "inv-77"),
        ("KWD, 3 decimals", "KWD", "414", "1.250", "r-9"),
        ("numeric currency", "840", "840", "0.01", "a"),
    ]
    .map(
        |(label, currency, currency_numeric, amount, reference)| Case {
            label,
            args: with(
                base_args(),
                &[
                    "--merchant-name",
                    "Sushi Bar",
                    "--city",
                    "Tokyo",
                    "--country",
                    "JP",
                    "--mcc",
                    "5812",
                    "--currency",
                    currency,
                    "--sign-key",
                    key,
                    "--amount",
                    amount,
                    "--reference",
                    reference,
                    "--now",
                    NOW,
                ],
            ),
            merchant_name: "Sushi Bar",
            city: "Tokyo",
            country: "JP",
            currency_numeric,
            amount: Some(amount),
            reference: Some(reference),
        },
    );
    let mut cases = vec![
        coffee("unsigned static", &[], None, None),
        coffee("signed static", &["--sign-key", key], None, None),
        coffee(
            "signed static with expiry",
            &["--sign-key", key, "--expires-at", "1750003600"],
            None,
            None,
        ),
        coffee(
            "signed dynamic EUR",
            &[
                "--sign-key",
                key,
                "--amount",
                "12.50",
                "--reference",
                "order-1042",
                "--now",
                NOW,
            ],
            Some("12.50"),
            Some("order-1042"),
        ),
    ];
    cases.extend(sushi);
    cases
}

#[test]
fn promptparse_reads_purse_merchant_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 11);
    let cases = cases(s(&key));
    let payloads: Vec<String> = cases
        .iter()
        .map(|case| {
            let answer = purse(&case.args).run().ok();
            let payload = payload_of(&answer).to_owned();
            // promptparse computes its CRC per UTF-16 unit, which is only right for ASCII.
            assert!(payload.is_ascii(), "{}: {payload}", case.label);
            payload
        })
        .collect();
    let Some(results) = promptparse(&payloads) else {
        return;
    };
    for ((case, payload), read) in cases.iter().zip(&payloads).zip(&results) {
        let context = format!("{}: {payload}\npromptparse read {read:#}", case.label);
        assert_eq!(read["accepted"], true, "{context}");
        assert_eq!(read["reencoded"], true, "{context}");
        assert_eq!(read["lengths_match"], true, "{context}");
        let tags = &read["tags"];
        let tag = |id: &str| tags.get(id).and_then(Value::as_str);
        assert_eq!(tag("00"), Some("01"), "payload format: {context}");
        let poi_method = if case.amount.is_some() { "12" } else { "11" };
        assert_eq!(
            tag("01"),
            Some(poi_method),
            "11 static, 12 dynamic: {context}"
        );
        assert_eq!(tag("59"), Some(case.merchant_name), "{context}");
        assert_eq!(tag("60"), Some(case.city), "{context}");
        assert_eq!(tag("58"), Some(case.country), "{context}");
        assert_eq!(tag("53"), Some(case.currency_numeric), "{context}");
        assert_eq!(tag("54"), case.amount, "{context}");
        assert_eq!(tag("62.05"), case.reference, "{context}");
        assert_eq!(tag("63"), Some(&payload[payload.len() - 4..]), "{context}");
    }
}

#[test]
fn promptparse_rejects_a_broken_crc() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_file(dir.path(), 12);
    let answer = purse(with(
        base_args(),
        &[
            "--sign-key",
            s(&key),
            "--amount",
            "7.00",
            "--reference",
            "r-1",
            "--now",
            NOW,
        ],
    ))
    .run()
    .ok();
    let good = payload_of(&answer).to_owned();
    let (body, crc) = good.split_at(good.len() - 4);
    // The last CRC digit changed to another hex digit; then the content changed, CRC kept.
    let last = if crc.ends_with('0') { '1' } else { '0' };
    let bad_crc = format!("{body}{}{last}", &crc[..3]);
    let bad_content = good.replacen("Corner Coffee", "Corner Toffee", 1);
    assert_ne!(bad_content, good);
    // Purse's own decoder refuses both, so the two parsers agree on what they refuse.
    for bad in [&bad_crc, &bad_content] {
        purse(["qr", "decode", bad.as_str()])
            .run()
            .fails("crc_mismatch");
    }
    // The good code goes first: a parser that refused everything would fail here.
    let payloads = [good, bad_crc, bad_content];
    let Some(results) = promptparse(&payloads) else {
        return;
    };
    let accepted: Vec<&Value> = results.iter().map(|read| &read["accepted"]).collect();
    assert_eq!(
        accepted,
        [true, false, false],
        "{payloads:#?}\n{results:#?}"
    );
}
