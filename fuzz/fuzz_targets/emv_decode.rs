//! Fuzz target `emv_decode`: any bytes through the EMV decoder. It must never panic, every error
//! has a known code, and an accepted payload re-encodes to its exact source.
//! Run it as fuzz/README.md says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purse_core::emv;

const KNOWN_CODES: &[&str] = &[
    "too_short",
    "too_long",
    "encoding_invalid",
    "tlv_malformed",
    "duplicate_tag",
    "structure_invalid",
    "crc_missing",
    "crc_malformed",
    "crc_mismatch",
    "missing_field",
    "invalid_field",
];

fuzz_target!(|data: &[u8]| {
    check(emv::decode_bytes(data));
    // Invalid UTF-8 stops decode_bytes early; the lossy text still exercises the parser.
    let text = String::from_utf8_lossy(data);
    check(emv::decode(&text));
    // Almost every mutation breaks the CRC; decoding the text again with a correct CRC lets the
    // fuzzer explore the checks after it (mandatory fields, amounts, templates, JSON).
    check(emv::decode(&emv::append_crc(without_crc(&text).to_owned())));
});

/// `text` without a trailing "6304" + 4 characters, if it has one.
fn without_crc(text: &str) -> &str {
    let cut = text.len().saturating_sub(8);
    match (text.get(..cut), text.get(cut..)) {
        (Some(head), Some(tail)) if tail.starts_with("6304") => head,
        _ => text,
    }
}

fn check(result: Result<emv::Payload, emv::EmvError>) {
    match result {
        Ok(payload) => {
            let objects = payload.objects();
            let body = &objects[..objects.len() - 1];
            let text = emv::encode_objects(body).expect("decoded objects encode");
            assert_eq!(text, payload.without_crc());
            for object in objects {
                assert!(payload.source().get(object.span()).is_some());
            }
            let json = payload.to_json();
            assert!(json.get("crc").is_some());
        }
        Err(err) => {
            assert!(
                KNOWN_CODES.contains(&err.code()),
                "unknown code {}",
                err.code()
            );
            assert!(!err.to_string().is_empty());
        }
    }
}
