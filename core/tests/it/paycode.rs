//! Tests for `paycode`: round trips, every single-character change refused, each error, the QR
//! size limit with the largest code, rendered images read back and verified, no panic on
//! arbitrary input, and the test vectors of docs/formats.md.

use proptest::prelude::*;
use purse_core::keys::{KeyError, PublicKey, SecretKey, Signature, Signer};
use purse_core::money::{AMOUNT_MINOR_MAX, Amount, Currency};
use purse_core::paycode::{self, CLOCK_SKEW_SECS, NewPayCode, PaycodeError, TEXT_CHARS_MAX};
use purse_core::qr::Qr;

use crate::qr::{scan_png, scan_svg};
use crate::util::{fixed_key, key_n};

const T0: u64 = 1_750_000_000;

fn usd(text: &str) -> Amount {
    Amount::parse(text, Currency::from_code("USD").unwrap()).unwrap()
}

fn new_code(counter: u32, cap: Option<Amount>) -> NewPayCode {
    NewPayCode {
        counter,
        issued_at_unix: T0,
        validity_secs: paycode::VALIDITY_SECS_DEFAULT,
        cap,
    }
}

/// The largest pay code there is: every field at its maximum, a cap of 10^15 minor units.
fn largest_code(key: &SecretKey) -> String {
    let cap = Amount::from_minor(AMOUNT_MINOR_MAX, Currency::from_code("JPY").unwrap()).unwrap();
    let new = NewPayCode {
        counter: u32::MAX,
        issued_at_unix: u64::from(u32::MAX),
        validity_secs: u8::MAX,
        cap: Some(cap),
    };
    paycode::generate(key, &new).unwrap()
}

#[test]
fn round_trip_without_cap() {
    let key = key_n(1);
    let text = paycode::generate(&key, &new_code(7, None)).unwrap();
    assert!(text.starts_with(paycode::PREFIX));
    let code = paycode::verify(
        &text,
        &key.public_key(),
        Some(6),
        T0 + 5,
        Some(&usd("5.00")),
    )
    .unwrap();
    assert_eq!(code.key_id(), key.key_id());
    assert_eq!(code.counter(), 7);
    assert_eq!(code.issued_at_unix(), T0);
    assert_eq!(code.validity_secs(), 60);
    assert_eq!(code.expires_at_unix(), T0 + 60);
    assert_eq!(code.cap(), None);
}

#[test]
fn round_trip_with_cap_in_each_kind_of_currency() {
    let key = key_n(2);
    for (amount, currency) in [("12.50", "USD"), ("1500", "JPY"), ("3.125", "KWD")] {
        let cap = Amount::parse(amount, Currency::from_code(currency).unwrap()).unwrap();
        let text = paycode::generate(&key, &new_code(1, Some(cap))).unwrap();
        let code = paycode::verify(&text, &key.public_key(), None, T0, Some(&cap)).unwrap();
        assert_eq!(code.cap(), Some(cap));
        assert_eq!(code.cap().unwrap().to_string(), amount);
    }
}

#[test]
fn decode_reads_the_key_id_without_the_key() {
    let key = key_n(3);
    let text = paycode::generate(&key, &new_code(42, Some(usd("9.99")))).unwrap();
    let unverified = paycode::decode(&text).unwrap();
    assert_eq!(unverified.key_id(), key.key_id());
    assert_eq!(unverified.claims().counter(), 42);
    // The server finds the device by key id, then verifies the same decoded value.
    let code = unverified
        .verify(&key.public_key(), Some(41), T0, Some(&usd("9.99")))
        .unwrap();
    assert_eq!(code.counter(), 42);
}

#[test]
fn largest_code_fits_version_6_at_level_m() {
    let key = fixed_key();
    let text = largest_code(&key);
    assert_eq!(text.len(), TEXT_CHARS_MAX);
    assert_eq!(text.len(), 139);
    let qr = Qr::new(&text).unwrap();
    assert!(qr.version() <= 6, "version {}", qr.version());
    // A code without a cap is shorter and fits version 6 as well.
    let small = paycode::generate(&key, &new_code(1, None)).unwrap();
    assert_eq!(small.len(), 4 + 123);
    assert!(Qr::new(&small).unwrap().version() <= 6);
}

#[test]
fn rendered_images_scan_back_and_verify() {
    let key = key_n(4);
    let cap = usd("25.00");
    let text = paycode::generate(&key, &new_code(9, Some(cap))).unwrap();
    let qr = Qr::new(&text).unwrap();
    for scanned in [scan_png(&qr.to_png().unwrap()), scan_svg(&qr.to_svg())] {
        assert_eq!(scanned.text, text);
        assert!(scanned.version <= 6);
        let code = paycode::verify(
            &scanned.text,
            &key.public_key(),
            Some(8),
            T0 + 1,
            Some(&cap),
        )
        .unwrap();
        assert_eq!(code.counter(), 9);
    }
    // The largest code too.
    let largest = largest_code(&key);
    let scanned = scan_png(&Qr::new(&largest).unwrap().to_png().unwrap());
    assert_eq!(scanned.text, largest);
    assert!(scanned.version <= 6);
    paycode::verify(
        &scanned.text,
        &key.public_key(),
        None,
        u64::from(u32::MAX),
        None,
    )
    .unwrap();
}

/// Every character of the alphabet and a few that are not in it.
const REPLACEMENTS: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:a~é";

#[test]
fn changing_any_single_character_is_caught() {
    let key = key_n(5);
    for cap in [None, Some(usd("100.00"))] {
        let text = paycode::generate(&key, &new_code(3, cap)).unwrap();
        let mut checked = 0;
        for (i, original) in text.char_indices() {
            for replacement in REPLACEMENTS.chars().filter(|&c| c != original) {
                let mut changed = text.clone();
                changed.replace_range(i..i + original.len_utf8(), &replacement.to_string());
                let err = paycode::verify(&changed, &key.public_key(), None, T0, None)
                    .expect_err(&format!("change at {i} to {replacement:?} was accepted"));
                assert!(
                    matches!(
                        err.code(),
                        "paycode_invalid" | "paycode_tampered" | "paycode_wrong_key"
                    ),
                    "change at {i}: unexpected {}",
                    err.code()
                );
                checked += 1;
            }
        }
        assert!(checked > text.len() * 40);
    }
}

#[test]
fn dropped_or_added_characters_are_caught() {
    let key = key_n(5);
    let text = paycode::generate(&key, &new_code(3, None)).unwrap();
    for i in 0..text.len() {
        let mut shorter = text.clone();
        shorter.remove(i);
        assert!(paycode::verify(&shorter, &key.public_key(), None, T0, None).is_err());
        let mut longer = text.clone();
        longer.insert(i, '0');
        assert!(paycode::verify(&longer, &key.public_key(), None, T0, None).is_err());
    }
}

#[test]
fn replayed_counter_is_refused() {
    let key = key_n(6);
    let text = paycode::generate(&key, &new_code(10, None)).unwrap();
    let public = key.public_key();
    for last in [10, 11, u32::MAX] {
        let err = paycode::verify(&text, &public, Some(last), T0, None).unwrap_err();
        assert_eq!(err.code(), "paycode_replayed", "last counter {last}");
    }
    assert!(paycode::verify(&text, &public, Some(9), T0, None).is_ok());
    assert!(paycode::verify(&text, &public, None, T0, None).is_ok());
    // Counter 0 is a valid first code of a device that never paid.
    let first = paycode::generate(&key, &new_code(0, None)).unwrap();
    assert!(paycode::verify(&first, &public, None, T0, None).is_ok());
    assert_eq!(
        paycode::verify(&first, &public, Some(0), T0, None)
            .unwrap_err()
            .code(),
        "paycode_replayed"
    );
}

#[test]
fn validity_window_has_exact_edges_with_clock_skew() {
    let key = key_n(7);
    let text = paycode::generate(&key, &new_code(1, None)).unwrap();
    let public = key.public_key();
    let check = |now| paycode::verify(&text, &public, None, now, None).map(|_| ());
    // Phone clock ahead of ours by up to the skew: accepted; one second more: not yet valid.
    assert!(check(T0 - CLOCK_SKEW_SECS).is_ok());
    let err = check(T0 - CLOCK_SKEW_SECS - 1).unwrap_err();
    assert_eq!(err.code(), "paycode_not_yet_valid");
    assert!(matches!(
        err,
        PaycodeError::NotYetValid {
            issued_at_unix: T0,
            ..
        }
    ));
    assert_eq!(check(0).unwrap_err().code(), "paycode_not_yet_valid");
    // Valid until issued + validity + skew, exclusive.
    assert!(check(T0 + 60 + CLOCK_SKEW_SECS - 1).is_ok());
    let err = check(T0 + 60 + CLOCK_SKEW_SECS).unwrap_err();
    assert_eq!(err.code(), "paycode_expired");
    assert!(
        matches!(err, PaycodeError::Expired { expires_at_unix, .. } if expires_at_unix == T0 + 60)
    );
    assert_eq!(check(u64::MAX).unwrap_err().code(), "paycode_expired");
}

#[test]
fn charge_above_the_cap_is_refused() {
    let key = key_n(8);
    let cap = usd("20.00");
    let text = paycode::generate(&key, &new_code(1, Some(cap))).unwrap();
    let public = key.public_key();
    assert!(paycode::verify(&text, &public, None, T0, Some(&usd("20.00"))).is_ok());
    assert!(paycode::verify(&text, &public, None, T0, Some(&usd("0.01"))).is_ok());
    let err = paycode::verify(&text, &public, None, T0, Some(&usd("20.01"))).unwrap_err();
    assert_eq!(err.code(), "paycode_over_limit");
    let eur = Amount::parse("1.00", Currency::from_code("EUR").unwrap()).unwrap();
    let err = paycode::verify(&text, &public, None, T0, Some(&eur)).unwrap_err();
    assert_eq!(err.code(), "paycode_currency_mismatch");
    // Without a cap, any charge passes the cap check.
    let uncapped = paycode::generate(&key, &new_code(2, None)).unwrap();
    let big = Amount::from_minor(AMOUNT_MINOR_MAX, Currency::from_code("USD").unwrap()).unwrap();
    assert!(paycode::verify(&uncapped, &public, None, T0, Some(&big)).is_ok());
}

#[test]
fn another_devices_key_is_refused() {
    let text = paycode::generate(&key_n(9), &new_code(1, None)).unwrap();
    let err = paycode::verify(&text, &key_n(10).public_key(), None, T0, None).unwrap_err();
    assert_eq!(err.code(), "paycode_wrong_key");
}

/// Claims one key and signs with another: a forgery whose key id is right.
struct ForgingSigner {
    claimed: PublicKey,
    real: SecretKey,
}

impl Signer for ForgingSigner {
    fn public_key(&self) -> PublicKey {
        self.claimed
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        self.real.sign(message)
    }
}

/// A keystore that refuses (locked, user cancelled).
struct RefusingSigner(PublicKey);

impl Signer for RefusingSigner {
    fn public_key(&self) -> PublicKey {
        self.0
    }
    fn sign(&self, _message: &[u8]) -> Result<Signature, KeyError> {
        Err(KeyError::SignerFailed {
            reason: "keystore locked".to_owned(),
        })
    }
}

#[test]
fn signer_failures_are_reported_not_turned_into_bad_codes() {
    let victim = key_n(11).public_key();
    let forger = ForgingSigner {
        claimed: victim,
        real: key_n(12),
    };
    let err = paycode::generate(&forger, &new_code(1, None)).unwrap_err();
    assert_eq!(err.code(), "signer_failed");
    let err = paycode::generate(&RefusingSigner(victim), &new_code(1, None)).unwrap_err();
    assert_eq!(err.code(), "signer_failed");
}

#[test]
fn forged_signature_with_the_right_key_id_is_tampered() {
    // A correctly encoded code naming the victim's key id but signed by another key, the way an
    // attacker who knows the victim's public key would build it (our `generate` refuses to).
    let victim = key_n(13);
    let attacker = key_n(14);
    let genuine = paycode::generate(&attacker, &new_code(1, None)).unwrap();
    let mut bytes = base45_decode(&genuine[4..]);
    bytes[1..9].copy_from_slice(&victim.key_id().to_bytes());
    let forged = format!("{}{}", paycode::PREFIX, base45_encode(&bytes));
    let err = paycode::verify(&forged, &victim.public_key(), None, T0, None).unwrap_err();
    assert_eq!(err.code(), "paycode_tampered");
}

/// Independent base45 (RFC 9285) for building malformed codes; the library's own is private.
const B45: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

fn base45_decode(text: &str) -> Vec<u8> {
    let v = |c: u8| B45.iter().position(|&a| a == c).unwrap() as u32;
    text.as_bytes()
        .chunks(3)
        .flat_map(|g| {
            let n = g.iter().rev().fold(0, |n, &c| n * 45 + v(c));
            if g.len() == 3 {
                (n as u16).to_be_bytes().to_vec()
            } else {
                vec![n as u8]
            }
        })
        .collect()
}

fn base45_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(2) {
        let (mut n, digits) = if chunk.len() == 2 {
            (u32::from(chunk[0]) << 8 | u32::from(chunk[1]), 3)
        } else {
            (u32::from(chunk[0]), 2)
        };
        for _ in 0..digits {
            out.push(char::from(B45[(n % 45) as usize]));
            n /= 45;
        }
    }
    out
}

#[test]
fn malformed_codes_are_invalid() {
    let key = key_n(15);
    let good = paycode::generate(&key, &new_code(1, None)).unwrap();
    let body = base45_decode(&good[4..]);
    let reencode = |bytes: &[u8]| format!("{}{}", paycode::PREFIX, base45_encode(bytes));
    let mut cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("PC1:".to_owned(), "prefix only"),
        (good.replacen("PC1:", "PC2:", 1), "other prefix"),
        (good.to_lowercase(), "lower case"),
        (good[4..].to_owned(), "no prefix"),
        (format!("{good}00"), "trailing bytes"),
        ("X".repeat(10_000), "huge"),
        (reencode(&body[..body.len() - 1]), "short signature"),
    ];
    let mut flags = body.clone();
    flags[0] |= 0b0010;
    cases.push((reencode(&flags), "reserved flag"));
    let mut version = body.clone();
    version[0] = 0x20;
    cases.push((reencode(&version), "layout version 2"));
    let mut cap_flag = body.clone();
    cap_flag[0] |= 0b0001;
    cases.push((reencode(&cap_flag), "cap flag without cap bytes"));
    let mut zero_validity = body.clone();
    zero_validity[17] = 0;
    cases.push((reencode(&zero_validity), "zero validity"));
    for (text, what) in &cases {
        let err = paycode::decode(text).expect_err(what);
        assert_eq!(err.code(), "paycode_invalid", "{what}");
    }
}

#[test]
fn malformed_caps_are_invalid() {
    let key = key_n(16);
    let good = paycode::generate(&key, &new_code(1, Some(usd("1.00")))).unwrap();
    let body = base45_decode(&good[4..]);
    let reencode = |bytes: &[u8]| format!("{}{}", paycode::PREFIX, base45_encode(bytes));
    let with_cap = |packed: u64| {
        let mut bytes = body.clone();
        bytes[18..26].copy_from_slice(&packed.to_be_bytes());
        reencode(&bytes)
    };
    let usd_numeric = 840u64 << 50;
    for (packed, what) in [
        (usd_numeric, "zero amount"),
        (
            usd_numeric | (AMOUNT_MINOR_MAX as u64 + 1),
            "amount above 10^15",
        ),
        (1u64 << 60 | usd_numeric | 100, "reserved bits"),
        (1u64 << 50 | 100, "unknown currency 001"),
    ] {
        let err = paycode::decode(&with_cap(packed)).expect_err(what);
        assert_eq!(err.code(), "paycode_invalid", "{what}");
    }
    // The unchanged packing decodes, so the cases above fail for the reason they name.
    assert!(paycode::decode(&with_cap(usd_numeric | 100)).is_ok());
}

#[test]
fn generate_refuses_what_the_layout_cannot_hold() {
    let key = key_n(17);
    let mut new = new_code(1, None);
    new.validity_secs = 0;
    assert_eq!(
        paycode::generate(&key, &new).unwrap_err().code(),
        "paycode_validity_invalid"
    );
    let mut new = new_code(1, None);
    new.issued_at_unix = u64::from(u32::MAX) + 1;
    assert_eq!(
        paycode::generate(&key, &new).unwrap_err().code(),
        "paycode_issued_at_out_of_range"
    );
}

// ---------------------------------------------------------------------------------------------
// Test vectors of docs/formats.md

#[derive(serde::Deserialize)]
struct Vector {
    kind: String,
    secret_key_hex: String,
    public_key: String,
    key_id: String,
    input: VectorInput,
    body_hex: Option<String>,
    message_hex: Option<String>,
    signature_hex: Option<String>,
    code: String,
    checks: Vec<VectorCheck>,
}

#[derive(serde::Deserialize)]
struct VectorInput {
    counter: u32,
    issued_at_unix: u64,
    validity_secs: u8,
    cap: Option<VectorAmount>,
}

#[derive(serde::Deserialize)]
struct VectorAmount {
    amount: String,
    currency: String,
}

#[derive(serde::Deserialize)]
struct VectorCheck {
    now_unix: u64,
    last_counter: Option<u32>,
    charge: Option<VectorAmount>,
    result: String,
}

fn amount(value: &VectorAmount) -> Amount {
    Amount::parse(&value.amount, Currency::from_code(&value.currency).unwrap()).unwrap()
}

#[test]
fn docs_test_vectors_match_the_code() {
    let vectors: Vec<Vector> = crate::merchant_code::doc_vectors("paycode");
    assert!(
        vectors.len() >= 2,
        "docs/formats.md lost its pay code vectors"
    );
    let mut results = std::collections::BTreeSet::new();
    for vector in vectors {
        assert_eq!(vector.kind, "paycode");
        let seed: [u8; 32] = crate::util::hex(&vector.secret_key_hex).try_into().unwrap();
        let key = SecretKey::from_bytes(&seed);
        assert_eq!(key.public_key().to_string(), vector.public_key);
        let new = NewPayCode {
            counter: vector.input.counter,
            issued_at_unix: vector.input.issued_at_unix,
            validity_secs: vector.input.validity_secs,
            cap: vector.input.cap.as_ref().map(amount),
        };
        assert_eq!(paycode::generate(&key, &new).unwrap(), vector.code);
        assert_eq!(key.key_id().to_string(), vector.key_id);
        // The intermediate values, re-derived with this file's own base45 decoder.
        let bytes = base45_decode(&vector.code[paycode::PREFIX.len()..]);
        let (body, signature) = bytes.split_at(bytes.len() - 64);
        if let Some(body_hex) = &vector.body_hex {
            assert_eq!(&crate::util::hex(body_hex), body);
        }
        if let Some(signature_hex) = &vector.signature_hex {
            assert_eq!(&crate::util::hex(signature_hex), signature);
        }
        if let Some(message_hex) = &vector.message_hex {
            let message = crate::util::hex(message_hex);
            assert_eq!(message, [paycode::SIGNING_CONTEXT, body].concat());
            let signature = Signature::from_bytes(signature).unwrap();
            key.public_key().verify(&message, &signature).unwrap();
        }
        let public: PublicKey = vector.public_key.parse().unwrap();
        for check in &vector.checks {
            let charge = check.charge.as_ref().map(amount);
            let result = paycode::verify(
                &vector.code,
                &public,
                check.last_counter,
                check.now_unix,
                charge.as_ref(),
            );
            let code = match &result {
                Ok(_) => "ok",
                Err(err) => err.code(),
            };
            assert_eq!(code, check.result, "check at now={}", check.now_unix);
            results.insert(check.result.clone());
        }
    }
    for expected in [
        "ok",
        "paycode_replayed",
        "paycode_expired",
        "paycode_not_yet_valid",
        "paycode_over_limit",
    ] {
        assert!(results.contains(expected), "no vector check for {expected}");
    }
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_text(text in ".{0,200}") {
        let _ = paycode::decode(&text);
    }

    #[test]
    fn decode_never_panics_on_base45_text(body in "[0-9A-Z $%*+\\-./:]{0,150}") {
        let _ = paycode::decode(&format!("PC1:{body}"));
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let text = format!("PC1:{}", base45_encode(&bytes));
        if let Ok(code) = paycode::decode(&text) {
            // Random bytes that happen to decode still never verify.
            let key = key_n(18);
            prop_assert!(code.verify(&key.public_key(), None, T0, None).is_err());
        }
    }

    #[test]
    fn any_valid_input_round_trips(
        counter in any::<u32>(),
        issued in 0u64..=u64::from(u32::MAX),
        validity in 1u8..=255,
        minor in proptest::option::of(1i64..=AMOUNT_MINOR_MAX),
    ) {
        let key = key_n(19);
        let cap = minor.map(|m| Amount::from_minor(m, Currency::from_code("USD").unwrap()).unwrap());
        let new = NewPayCode { counter, issued_at_unix: issued, validity_secs: validity, cap };
        let text = paycode::generate(&key, &new).unwrap();
        prop_assert!(text.len() <= TEXT_CHARS_MAX);
        let code = paycode::verify(&text, &key.public_key(), None, issued, cap.as_ref()).unwrap();
        prop_assert_eq!(code.counter(), counter);
        prop_assert_eq!(code.issued_at_unix(), issued);
        prop_assert_eq!(code.validity_secs(), validity);
        prop_assert_eq!(code.cap(), cap);
    }
}
