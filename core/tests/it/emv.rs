//! Tests for `emv`: every vector of `tests/data/emv-mpm.json`, encode→decode round trips, the CRC
//! check value, and property tests that no input makes the decoder panic.

use proptest::prelude::*;
use purse_core::emv::{
    self, DataObject, EmvError, PAYLOAD_CHARS_MAX, PayloadBuilder, PoiMethod, Value, append_crc,
    crc16, encode_objects,
};
use rust_decimal::Decimal;
use serde_json::Value as Json;

const VECTORS: &str = include_str!("../data/emv-mpm.json");

struct Vector {
    id: String,
    payload: String,
    expect: Option<Json>,
    failure: Option<String>,
}

fn vectors() -> Vec<Vector> {
    let all: Json = serde_json::from_str(VECTORS).expect("vectors are JSON");
    let list = all.as_array().expect("vectors are a list");
    assert!(
        list.len() >= 30,
        "expected the full vector set, got {}",
        list.len()
    );
    list.iter()
        .map(|record| {
            let text = |key: &str| record.get(key).and_then(Json::as_str).map(str::to_owned);
            let valid = record["valid"].as_bool().expect("valid is a bool");
            let vector = Vector {
                id: text("id").expect("id"),
                payload: text("payload").expect("payload"),
                expect: record.get("expect").cloned(),
                failure: text("failure"),
            };
            assert_eq!(
                valid,
                vector.expect.is_some(),
                "{}: valid iff expect",
                vector.id
            );
            assert_eq!(
                !valid,
                vector.failure.is_some(),
                "{}: invalid iff failure",
                vector.id
            );
            vector
        })
        .collect()
}

/// Error codes a vector `failure` kind may map to.
fn codes_for_failure(kind: &str) -> &'static [&'static str] {
    match kind {
        "crc" => &["crc_missing", "crc_malformed", "crc_mismatch"],
        "tlv" => &["tlv_malformed"],
        "structure" => &["structure_invalid", "duplicate_tag"],
        "length" => &["too_short"],
        other => panic!("unknown failure kind {other}"),
    }
}

/// Compares decoded JSON with a vector's `expect`, `amount` as a number.
fn assert_matches_expect(id: &str, got: &Json, expect: &Json) {
    let (got, expect) = (
        got.as_object().expect("object"),
        expect.as_object().expect("object"),
    );
    let mut got_keys: Vec<_> = got.keys().collect();
    let mut expect_keys: Vec<_> = expect.keys().collect();
    got_keys.sort();
    expect_keys.sort();
    assert_eq!(got_keys, expect_keys, "{id}: field names");
    for (key, want) in expect {
        if key == "amount" {
            let number = |v: &Json| v.as_str().and_then(|s| s.parse::<Decimal>().ok());
            assert_eq!(number(&got[key]), number(want), "{id}: amount");
            assert!(number(want).is_some(), "{id}: vector amount is a number");
        } else {
            assert_eq!(&got[key], want, "{id}: {key}");
        }
    }
}

#[test]
fn every_vector_decodes_as_expected() {
    let mut accepted = 0;
    let mut rejected = 0;
    for vector in vectors() {
        let result = emv::decode(&vector.payload);
        match (&vector.expect, &vector.failure, result) {
            (Some(expect), None, Ok(payload)) => {
                assert_matches_expect(&vector.id, &payload.to_json(), expect);
                assert_eq!(payload.source(), vector.payload);
                accepted += 1;
            }
            (None, Some(kind), Err(err)) => {
                assert!(
                    codes_for_failure(kind).contains(&err.code()),
                    "{}: failure {kind} but got {} ({err})",
                    vector.id,
                    err.code()
                );
                assert!(!err.to_string().is_empty());
                rejected += 1;
            }
            (_, _, Ok(_)) => panic!("{}: accepted but the vector says invalid", vector.id),
            (_, _, Err(err)) => panic!("{}: rejected with {} ({err})", vector.id, err.code()),
        }
    }
    assert!(
        accepted >= 20 && rejected >= 10,
        "{accepted} accepted, {rejected} rejected"
    );
}

/// The vectors' failures pinned to the exact code this decoder chose for each.
#[test]
fn vector_failures_have_their_codes() {
    let expected = [
        ("bacen-issue189-bad-header", "tlv_malformed"),
        ("dongri-invalid-short", "tlv_malformed"),
        ("khqr-verify-only-crc", "structure_invalid"),
        ("mvallim-invalid-incomplete-crc", "crc_missing"),
        ("mvallim-invalid-too-short", "too_short"),
        ("pix-pendencias-crc-empty", "tlv_malformed"),
        ("promptparse-invalid-AAAA0000", "tlv_malformed"),
        ("qris-readme-crc-M2B3", "crc_malformed"),
        ("qris-transfer-40-1376", "crc_mismatch"),
        ("sgqr-foodxyz-truncated", "tlv_malformed"),
    ];
    let vectors = vectors();
    for (id, code) in expected {
        let vector = vectors.iter().find(|v| v.id == id).expect(id);
        let err = emv::decode(&vector.payload).expect_err(id);
        assert_eq!(err.code(), code, "{id}: {err}");
    }
}

#[test]
fn typed_view_of_the_emvco_example() {
    let vectors = vectors();
    let vector = vectors
        .iter()
        .find(|v| v.id == "emvco-mpm-annexB")
        .expect("annex B vector");
    let payload = emv::decode(&vector.payload).expect("valid");
    assert_eq!(payload.payload_format(), "01");
    assert_eq!(payload.poi_method(), Some("12"));
    assert_eq!(payload.mcc(), Some("4111"));
    assert_eq!(payload.currency(), "156");
    assert_eq!(payload.amount(), Some(Decimal::new(2372, 2)));
    assert_eq!(payload.amount_text(), Some("23.72"));
    assert_eq!(payload.country(), "CN");
    assert_eq!(payload.merchant_name(), Some("BEST TRANSPORT"));
    assert_eq!(payload.merchant_city(), Some("BEIJING"));
    assert_eq!(payload.postal_code(), None);
    assert_eq!(payload.crc(), "A13A");
    let account = payload
        .merchant_account("d15600000001")
        .expect("GUID matched ignoring case");
    assert_eq!(account.id(), "31");
    assert_eq!(
        account.get("03").and_then(DataObject::text),
        Some("12345678")
    );
    assert_eq!(payload.merchant_accounts().count(), 2);
    let language = payload.language_template().expect("64");
    assert_eq!(
        language.get("01").and_then(DataObject::text),
        Some("最佳运输")
    );
    assert_eq!(
        payload
            .additional_data()
            .and_then(|o| o.get("07"))
            .and_then(DataObject::text),
        Some("A6008667")
    );
    assert_eq!(
        payload
            .unreserved_template("A011223344998877")
            .map(DataObject::id),
        Some("91")
    );
    // Generic access reaches fields the typed view does not name (55: tip indicator).
    assert_eq!(payload.get("55").and_then(DataObject::text), Some("01"));
    assert_eq!(payload.get("5"), None);
}

/// Spans are exact byte ranges, also past multi-byte characters, so a signer can take a prefix.
#[test]
fn spans_are_byte_ranges_of_the_source() {
    for vector in vectors().into_iter().filter(|v| v.expect.is_some()) {
        let payload = emv::decode(&vector.payload).expect("valid");
        let source = payload.source();
        let mut next = 0;
        for object in payload.objects() {
            let span = object.span();
            assert_eq!(span.start, next, "{}: objects are contiguous", vector.id);
            let encoded = encode_one(object);
            assert_eq!(
                &source[span.clone()],
                encoded,
                "{}: span of {}",
                vector.id,
                object.id()
            );
            for child in object.children() {
                assert_eq!(
                    &source[child.span()],
                    encode_one(child),
                    "{}: child span",
                    vector.id
                );
            }
            next = span.end;
        }
        assert_eq!(next, source.len());
        assert_eq!(
            payload.without_crc().len(),
            payload.objects().last().unwrap().span().start
        );
    }
}

fn encode_one(object: &DataObject) -> String {
    let value = match object.value() {
        Value::Primitive(text) | Value::Raw(text) => text.clone(),
        Value::Template(children) => children.iter().map(encode_one).collect(),
    };
    format!("{}{:02}{value}", object.id(), value.chars().count())
}

/// Re-encoding the objects of any accepted payload gives back its exact text.
#[test]
fn vectors_reencode_to_their_source() {
    for vector in vectors().into_iter().filter(|v| v.expect.is_some()) {
        let payload = emv::decode(&vector.payload).expect("valid");
        let objects = payload.objects();
        let text = encode_objects(&objects[..objects.len() - 1]).expect("encodes");
        assert_eq!(text, payload.without_crc(), "{}", vector.id);
        let rebuilt = append_crc(text);
        assert!(
            rebuilt.eq_ignore_ascii_case(&vector.payload),
            "{}: CRC",
            vector.id
        );
    }
}

#[test]
fn crc_check_value() {
    assert_eq!(crc16(b"123456789"), 0x29B1);
    assert_eq!(
        append_crc("000201".to_owned()),
        format!("0002016304{:04X}", crc16(b"0002016304"))
    );
}

#[test]
fn lowercase_crc_is_accepted_and_kept_as_written() {
    let payload = emv::decode(
        "0002010102112632002816990007000000000000446800005204510153031445802LK5910Direct Pay6010Colombo 0561050050062100506s.69906304106f",
    )
    .expect("LankaQR lower-case CRC");
    assert_eq!(payload.crc(), "106f");
}

fn sample_builder() -> PayloadBuilder {
    PayloadBuilder::new()
        .poi_method(PoiMethod::Dynamic)
        .merchant_account(
            "26",
            "com.example.purse",
            &[("01", "mer_7Yk2c9Qe"), ("02", "till 4")],
        )
        .mcc("5812")
        .currency("840")
        .amount("12.50")
        .country("US")
        .merchant_name("Café Ünïcode")
        .merchant_city("Zürich")
        .postal_code("8001")
        .additional_data(&[("05", "ref-123"), ("07", "T1")])
        .language_template("ZH", "最佳运输", Some("北京"))
        .unreserved_template(
            "85",
            "com.example.purse.sig",
            &[("01", "kid"), ("02", "sig")],
        )
}

#[test]
fn builder_round_trips_through_decode() {
    let payload = sample_builder().build().expect("builds");
    let text = payload.source().to_owned();
    assert!(text.starts_with("000201010212"));
    // Upper-case CRC over the UTF-8 bytes; lengths count characters ("Café Ünïcode" is 12).
    assert!(text.contains("5912Café Ünïcode"));
    let crc = &text[text.len() - 4..];
    assert_eq!(crc, crc.to_ascii_uppercase());
    assert_eq!(
        u16::from_str_radix(crc, 16).unwrap(),
        crc16(&text.as_bytes()[..text.len() - 4])
    );

    let again = emv::decode(&text).expect("decodes");
    assert_eq!(again, payload);
    assert_eq!(again.amount(), Some(Decimal::new(1250, 2)));
    assert_eq!(again.merchant_city(), Some("Zürich"));
    let account = again
        .merchant_account("COM.EXAMPLE.PURSE")
        .expect("account");
    assert_eq!(
        account.get("01").and_then(DataObject::text),
        Some("mer_7Yk2c9Qe")
    );
    assert_eq!(
        again
            .unreserved_template("com.example.purse.sig")
            .map(DataObject::id),
        Some("85")
    );
    // Objects are written in id order whatever order they were set in.
    let objects = again.objects();
    let ids: Vec<_> = objects[..objects.len() - 1]
        .iter()
        .map(DataObject::id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    // The unsigned prefix a signer would sign is exactly the text before the CRC.
    assert_eq!(
        sample_builder().encode_without_crc().unwrap(),
        again.without_crc()
    );
    assert_eq!(
        sample_builder().objects().unwrap(),
        again.objects()[..again.objects().len() - 1]
    );
}

/// The codes helper's pattern: sign the prefix, append a signature template, then the CRC; the
/// spans of the decoded result give back the signed bytes exactly.
#[test]
fn prefix_before_a_template_is_recoverable_from_spans() {
    let prefix = sample_builder().encode_without_crc().unwrap();
    let signature = DataObject::template(
        "90",
        vec![
            DataObject::primitive("00", "sig.guid").unwrap(),
            DataObject::primitive("01", "AAAA").unwrap(),
        ],
    )
    .unwrap();
    let text = append_crc(prefix.clone() + &encode_objects(&[signature]).unwrap());
    let payload = emv::decode(&text).unwrap();
    let sig = payload.get("90").unwrap();
    assert_eq!(
        &payload.source().as_bytes()[..sig.span().start],
        prefix.as_bytes()
    );
}

#[test]
fn setting_a_field_twice_keeps_the_last_value() {
    let payload = sample_builder().merchant_name("Second").build().unwrap();
    assert_eq!(payload.merchant_name(), Some("Second"));
}

#[test]
fn encoder_errors_have_codes() {
    let long = "x".repeat(100);
    let cases: Vec<(Result<DataObject, EmvError>, &str)> = vec![
        (DataObject::primitive("59", long.as_str()), "value_too_long"),
        (
            DataObject::primitive("59", "é".repeat(100)),
            "value_too_long",
        ),
        (DataObject::primitive("59", ""), "value_empty"),
        (DataObject::primitive("5", "x"), "invalid_id"),
        (DataObject::primitive("5x", "x"), "invalid_id"),
        (DataObject::primitive("100", "x"), "invalid_id"),
        (DataObject::template("59", vec![]), "invalid_id"),
        (DataObject::template("26", vec![]), "value_empty"),
        (
            DataObject::template(
                "26",
                vec![DataObject::primitive("00", "x".repeat(96)).unwrap()],
            ),
            "value_too_long",
        ),
        (
            DataObject::template(
                "26",
                vec![
                    DataObject::primitive("01", "a").unwrap(),
                    DataObject::primitive("01", "b").unwrap(),
                ],
            ),
            "duplicate_tag",
        ),
        (
            DataObject::template(
                "26",
                vec![
                    DataObject::template("27", vec![DataObject::primitive("00", "a").unwrap()])
                        .unwrap(),
                ],
            ),
            "invalid_field",
        ),
    ];
    for (result, code) in cases {
        let err = result.expect_err(code);
        assert_eq!(err.code(), code, "{err}");
        assert!(!err.to_string().is_empty());
    }
    // 99 characters is the most a two-digit length holds, and is fine.
    assert!(DataObject::primitive("59", "x".repeat(99)).is_ok());

    let name = DataObject::primitive("59", "A").unwrap();
    assert_eq!(
        encode_objects(&[name.clone(), name]).unwrap_err().code(),
        "duplicate_tag"
    );
    let crc = DataObject::primitive("63", "ABCD").unwrap();
    assert_eq!(encode_objects(&[crc]).unwrap_err().code(), "invalid_id");

    let builder_errors = [
        (sample_builder().amount("12,50").build(), "invalid_field"),
        (sample_builder().amount("-1").build(), "invalid_field"),
        (sample_builder().currency("USD").build(), "invalid_field"),
        (
            sample_builder().merchant_name(&"n".repeat(100)).build(),
            "value_too_long",
        ),
        (
            sample_builder().unreserved_template("26", "g", &[]).build(),
            "invalid_id",
        ),
        (
            PayloadBuilder::new().currency("840").country("US").build(),
            "missing_field",
        ),
    ];
    for (result, code) in builder_errors {
        assert_eq!(result.expect_err(code).code(), code);
    }
}

/// Builds a payload from raw text and appends a correct CRC, to reach the checks after the CRC.
fn with_crc(text: &str) -> String {
    append_crc(text.to_owned())
}

#[test]
fn decoder_errors_have_codes() {
    let account = "26080004abcd";
    let tail = "5303986".to_owned() + "5802BR";
    let ok = with_crc(&format!("000201{account}{tail}"));
    assert!(emv::decode(&ok).is_ok(), "{ok}");
    let cases = [
        (String::new(), "too_short"),
        ("abc".to_owned(), "too_short"),
        ("0".repeat(PAYLOAD_CHARS_MAX + 1), "too_long"),
        ("é".repeat(PAYLOAD_CHARS_MAX + 1), "too_long"),
        (
            with_crc(&format!("000201{account}5303986")),
            "missing_field",
        ),
        (with_crc(&format!("000201{account}5802BR")), "missing_field"),
        (with_crc(&format!("000201{tail}")), "missing_field"),
        (
            with_crc(&format!("000201{account}5303986540412,55802BR")),
            "invalid_field",
        ),
        (
            with_crc(&format!("000201{account}5303USD5802BR")),
            "invalid_field",
        ),
        (with_crc(&format!("0002AB{account}{tail}")), "invalid_field"),
        (
            with_crc(&format!("000201{account}{tail}5802BR")),
            "duplicate_tag",
        ),
        (
            with_crc(&format!("000201{account}{tail}62100101a0101b")),
            "duplicate_tag",
        ),
        (format!("000201{account}{tail}"), "crc_missing"),
        (
            format!("000201{account}{tail}6304ABCD5904ABCD"),
            "structure_invalid",
        ),
        (format!("000201{account}{tail}6303ABC"), "crc_malformed"),
        (format!("000201{account}{tail}6304ABCG"), "crc_malformed"),
        (format!("000201{account}{tail}6304ABCD"), "crc_mismatch"),
        (format!("000201{account}{tail}630"), "crc_missing"),
        (format!("000201{account}{tail}6304AB"), "tlv_malformed"),
        (format!("000201{account}{tail}X"), "tlv_malformed"),
        (format!("00é201{account}"), "tlv_malformed"),
        (format!("0003é1{account}"), "tlv_malformed"),
        (
            with_crc(&format!("{account}000201{tail}")),
            "structure_invalid",
        ),
    ];
    for (input, code) in cases {
        let err = emv::decode(&input).expect_err(&input);
        assert_eq!(err.code(), code, "{input}: {err}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        emv::decode_bytes(b"0002\xff\xfe").unwrap_err().code(),
        "encoding_invalid"
    );
    assert!(emv::decode_bytes(ok.as_bytes()).is_ok());
}

/// A template value that is not TLV stays raw rather than failing the payload.
#[test]
fn non_tlv_template_is_kept_raw() {
    let text = with_crc("00020126081234567853039865802BR81051234Z");
    let payload = emv::decode(&text).expect("accepted");
    assert_eq!(
        payload.get("26").map(DataObject::value),
        Some(&Value::Raw("12345678".to_owned()))
    );
    assert_eq!(
        payload.to_json()["unreserved_templates"]["81"],
        serde_json::json!({"_raw": "1234Z"})
    );
}

/// Every single-character change before the CRC value of an ASCII vector is caught (CRC-16
/// detects every error confined to 16 consecutive bits, and one ASCII character is 8).
#[test]
fn every_single_character_change_is_rejected() {
    let mut tried = 0;
    for vector in vectors()
        .into_iter()
        .filter(|v| v.expect.is_some() && v.payload.is_ascii())
    {
        let bytes = vector.payload.as_bytes();
        for at in 0..bytes.len() - 4 {
            for replacement in [b'0', b'9', b'A', b'z', b' '] {
                if bytes[at] == replacement {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[at] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert!(
                    emv::decode(&changed).is_err(),
                    "{}: change at {at} accepted",
                    vector.id
                );
                tried += 1;
            }
        }
    }
    assert!(tried > 10_000, "{tried}");
}

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

/// Whatever the input: no panic, and either an error with a known code or a payload whose
/// objects re-encode to its exact source.
fn check_any(input: &str) -> Result<(), TestCaseError> {
    match emv::decode(input) {
        Ok(payload) => {
            let objects = payload.objects();
            let text = encode_objects(&objects[..objects.len() - 1])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(text.as_str(), payload.without_crc());
            let _ = payload.to_json();
        }
        Err(err) => {
            prop_assert!(
                KNOWN_CODES.contains(&err.code()),
                "unknown code {}",
                err.code()
            );
            prop_assert!(!err.to_string().is_empty());
        }
    }
    Ok(())
}

/// Strings shaped like EMV payloads (digit headers, often-right lengths, sometimes a correct CRC)
/// so the checks after the TLV split are reached, not just the first one.
fn tlv_like() -> impl Strategy<Value = String> {
    let object = (0u8..100, "[0-9A-Za-z .é最]{0,12}", 0u8..3, 0u8..100).prop_map(
        |(id, value, mode, len)| {
            let declared = if mode == 0 {
                usize::from(len)
            } else {
                value.chars().count()
            };
            format!("{id:02}{declared:02}{value}")
        },
    );
    (
        proptest::collection::vec(object, 0..12),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(objects, start, crc)| {
            let mut text = if start {
                "000201".to_owned()
            } else {
                String::new()
            };
            text.extend(objects);
            if crc { append_crc(text) } else { text }
        })
}

fn mutated_vector() -> impl Strategy<Value = String> {
    let payloads: Vec<String> = vectors().into_iter().map(|v| v.payload).collect();
    (
        proptest::sample::select(payloads),
        any::<prop::sample::Index>(),
        0u8..3,
        any::<char>(),
    )
        .prop_map(|(payload, index, op, ch)| {
            let mut chars: Vec<char> = payload.chars().collect();
            let at = index.index(chars.len() + 1);
            match op {
                0 => chars.insert(at, ch),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = ch,
                _ => chars.push(ch),
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check_any(&input)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let lossy = String::from_utf8_lossy(&bytes);
        check_any(&lossy)?;
        if let Err(err) = emv::decode_bytes(&bytes) {
            prop_assert!(KNOWN_CODES.contains(&err.code()));
        }
    }

    #[test]
    fn tlv_shaped_strings_never_panic(input in tlv_like()) {
        check_any(&input)?;
    }

    #[test]
    fn mutated_vectors_never_panic(input in mutated_vector()) {
        check_any(&input)?;
    }

    /// Any primitive values the builder accepts come back unchanged.
    #[test]
    fn built_payloads_round_trip(
        name in "[^\u{0}]{1,25}",
        city in "[A-Za-z ]{1,15}",
        account in "[0-9A-Za-z@.]{1,30}",
        amount in "[0-9]{1,10}(\\.[0-9]{2})?",
    ) {
        let payload = PayloadBuilder::new()
            .merchant_account("29", "A000000677010111", &[("01", account.as_str())])
            .currency("764")
            .amount(&amount)
            .country("TH")
            .merchant_name(&name)
            .merchant_city(&city)
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = emv::decode(payload.source()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.merchant_name(), Some(name.as_str()));
        prop_assert_eq!(again.merchant_city(), Some(city.as_str()));
        prop_assert_eq!(again.amount_text(), Some(amount.as_str()));
        prop_assert_eq!(
            again.merchant_account("A000000677010111").and_then(|a| a.get("01")).and_then(DataObject::text),
            Some(account.as_str())
        );
    }
}
