//! Tests for `purse qr decode`: every EMV vector through the real binary, stdin input, and the
//! shape of the JSON verdict and the exit status.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const VECTORS: &str = include_str!("../../../core/tests/data/emv-mpm.json");

fn purse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_purse"))
}

fn decode_arg(payload: &str) -> Output {
    purse()
        .args(["qr", "decode", payload])
        .output()
        .expect("purse runs")
}

fn decode_stdin(input: &[u8]) -> Output {
    let mut child = purse()
        .args(["qr", "decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("purse runs");
    // purse stops reading once the input exceeds any possible payload, so the pipe may close early.
    match child.stdin.take().expect("stdin").write_all(input) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
        result => result.expect("write stdin"),
    }
    child.wait_with_output().expect("purse finishes")
}

/// The one JSON object on stdout, and the exit status.
fn verdict(output: &Output) -> (Value, i32) {
    let stdout = String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout");
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout:?}");
    let value: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    (value, output.status.code().expect("exit status"))
}

/// `"100.50"` and `"100.5"` are the same number: compare digits without insignificant zeros.
fn normalized_number(text: &str) -> String {
    assert!(
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.'),
        "{text}"
    );
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    format!("{}.{fraction}", if whole.is_empty() { "0" } else { whole })
}

fn failure_codes(kind: &str) -> &'static [&'static str] {
    match kind {
        "crc" => &["crc_missing", "crc_malformed", "crc_mismatch"],
        "tlv" => &["tlv_malformed"],
        "structure" => &["structure_invalid", "duplicate_tag"],
        "length" => &["too_short"],
        other => panic!("unknown failure kind {other}"),
    }
}

#[test]
fn every_vector_through_the_cli() {
    let vectors: Value = serde_json::from_str(VECTORS).expect("vectors");
    let vectors = vectors.as_array().expect("list");
    assert!(vectors.len() >= 30);
    for vector in vectors {
        let id = vector["id"].as_str().expect("id");
        let payload = vector["payload"].as_str().expect("payload");
        let (got, exit) = verdict(&decode_arg(payload));
        if vector["valid"] == Value::Bool(true) {
            assert_eq!(exit, 0, "{id}: {got}");
            let mut got = got.as_object().expect("object").clone();
            assert_eq!(got.remove("valid"), Some(Value::Bool(true)), "{id}");
            let mut expect = vector["expect"].as_object().expect("expect").clone();
            if let Some(want) = expect.remove("amount") {
                let have = got
                    .remove("amount")
                    .unwrap_or_else(|| panic!("{id}: amount missing"));
                assert_eq!(
                    normalized_number(have.as_str().expect("amount string")),
                    normalized_number(want.as_str().expect("amount string")),
                    "{id}: amount"
                );
            }
            assert_eq!(Value::Object(got), Value::Object(expect), "{id}");
        } else {
            assert_eq!(exit, 1, "{id}: {got}");
            assert_eq!(got["valid"], Value::Bool(false), "{id}");
            let code = got["error"]["code"].as_str().expect("code");
            let kind = vector["failure"].as_str().expect("failure");
            assert!(
                failure_codes(kind).contains(&code),
                "{id}: {kind} gave {code}"
            );
            assert!(
                !got["error"]["message"]
                    .as_str()
                    .expect("message")
                    .is_empty(),
                "{id}"
            );
            assert_eq!(
                got.as_object().unwrap().len(),
                2,
                "{id}: only valid and error"
            );
        }
    }
}

const PROMPTPAY: &str =
    "00020101021129370016A000000677010111011300668912345675802TH5303764630429C1";

#[test]
fn stdin_with_trailing_newline() {
    for input in [
        format!("{PROMPTPAY}\n"),
        format!("{PROMPTPAY}\r\n"),
        PROMPTPAY.to_owned(),
    ] {
        let (got, exit) = verdict(&decode_stdin(input.as_bytes()));
        assert_eq!(exit, 0, "{got}");
        assert_eq!(got["valid"], Value::Bool(true));
        assert_eq!(got["merchant_account_info"]["29"]["01"], "0066891234567");
    }
    // Only one newline is dropped: the second is part of the payload, and breaks it.
    let (got, exit) = verdict(&decode_stdin(format!("{PROMPTPAY}\n\n").as_bytes()));
    assert_eq!(exit, 1);
    assert_eq!(got["error"]["code"], "tlv_malformed");
}

#[test]
fn stdin_rejects_non_utf8_and_oversized_input() {
    let (got, exit) = verdict(&decode_stdin(b"000201\xff\xfe6304ABCD"));
    assert_eq!(
        (exit, got["error"]["code"].as_str()),
        (1, Some("input_unreadable"))
    );
    let huge = "0".repeat(100_000);
    let (got, exit) = verdict(&decode_stdin(huge.as_bytes()));
    assert_eq!((exit, got["error"]["code"].as_str()), (1, Some("too_long")));
}

#[test]
fn payload_starting_with_a_hyphen_is_decoded_not_parsed_as_a_flag() {
    let (got, exit) = verdict(&decode_arg("-x"));
    assert_eq!(
        (exit, got["error"]["code"].as_str()),
        (1, Some("too_short"))
    );
}

#[test]
fn lowercase_crc_and_missing_crc() {
    let lower = PROMPTPAY.replace("29C1", "29c1");
    let (got, exit) = verdict(&decode_arg(&lower));
    assert_eq!(exit, 0);
    assert_eq!(got["crc"], "29c1");
    let cut = &PROMPTPAY[..PROMPTPAY.len() - 8];
    let (got, exit) = verdict(&decode_arg(cut));
    assert_eq!(
        (exit, got["error"]["code"].as_str()),
        (1, Some("crc_missing"))
    );
}
