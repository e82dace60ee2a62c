//! Tests for `merchant_code`: round trips, every single-character change refused (with and
//! without a recomputed CRC), each error, rendered images read back and verified, no panic on
//! arbitrary input, and the test vectors of docs/formats.md (read from the document itself).

use proptest::prelude::*;
use purse_core::emv::{self, PayloadBuilder, PoiMethod};
use purse_core::keys::{KeyError, PublicKey, SecretKey, Signature, Signer};
use purse_core::merchant_code::{self, CodeKind, MerchantCodeError, NewMerchantCode};
use purse_core::money::{Amount, Currency};
use purse_core::paycode::CLOCK_SKEW_SECS;
use purse_core::qr::Qr;
use serde::de::DeserializeOwned;

use crate::qr::{scan_png, scan_svg};
use crate::util::{fixed_key, key_n};

const T0: u64 = 1_750_000_000;

/// The fenced ```json blocks of docs/formats.md whose `"kind"` is `kind`.
pub fn doc_vectors<T: DeserializeOwned>(kind: &str) -> Vec<T> {
    const DOC: &str = include_str!("../../../docs/formats.md");
    let mut vectors = Vec::new();
    let mut rest = DOC;
    while let Some(start) = rest.find("```json\n") {
        let block_and_rest = &rest[start + "```json\n".len()..];
        let end = block_and_rest.find("```").expect("unterminated json block");
        let value: serde_json::Value = serde_json::from_str(&block_and_rest[..end])
            .unwrap_or_else(|err| panic!("a json block of docs/formats.md does not parse: {err}"));
        if value["kind"] == kind {
            vectors.push(serde_json::from_value(value).expect("vector has the expected shape"));
        }
        rest = &block_and_rest[end + 3..];
    }
    vectors
}

fn eur() -> &'static Currency {
    Currency::from_code("EUR").unwrap()
}

fn static_code(expires_at_unix: Option<u64>) -> NewMerchantCode<'static> {
    NewMerchantCode {
        merchant_id: "mer_7Hq2LmX9pR4sT6vW",
        merchant_name: "Corner Coffee",
        city: "Lisbon",
        country: "PT",
        mcc: "5814",
        currency: eur(),
        kind: CodeKind::Static { expires_at_unix },
    }
}

fn dynamic_code(amount: &str, expires_at_unix: u64) -> NewMerchantCode<'static> {
    NewMerchantCode {
        kind: CodeKind::Dynamic {
            amount: Amount::parse(amount, eur()).unwrap(),
            reference: "order-1042".to_owned(),
            expires_at_unix,
        },
        ..static_code(None)
    }
}

#[test]
fn static_code_round_trips_and_is_a_valid_emv_payload() {
    let key = key_n(1);
    let payload = merchant_code::generate(&key, &static_code(None)).unwrap();
    let emv = emv::decode(&payload).unwrap();
    assert_eq!(emv.poi_method(), Some("11"));
    assert_eq!(emv.merchant_name(), Some("Corner Coffee"));
    assert_eq!(emv.amount_text(), None);
    let account = emv.merchant_account(merchant_code::GUID).unwrap();
    assert_eq!(account.id(), merchant_code::ACCOUNT_TEMPLATE_ID);
    assert_eq!(
        account.get("01").unwrap().text(),
        Some("mer_7Hq2LmX9pR4sT6vW")
    );
    assert_eq!(
        account.get("02").unwrap().text(),
        Some(key.key_id().to_string().as_str())
    );
    // The signature template is the last object before the CRC.
    let objects = emv.objects();
    assert_eq!(
        objects[objects.len() - 2].id(),
        merchant_code::SIGNATURE_TEMPLATE_ID
    );

    let code = merchant_code::verify(&payload, &key.public_key(), T0).unwrap();
    assert_eq!(code.merchant_id(), "mer_7Hq2LmX9pR4sT6vW");
    assert_eq!(code.key_id(), key.key_id());
    assert!(!code.is_dynamic());
    assert_eq!(code.merchant_name(), "Corner Coffee");
    assert_eq!(code.city(), "Lisbon");
    assert_eq!(code.country(), "PT");
    assert_eq!(code.mcc(), "5814");
    assert_eq!(code.currency().code, "EUR");
    assert_eq!(code.amount(), None);
    assert_eq!(code.reference(), None);
    assert_eq!(code.expires_at_unix(), None);
    // A static code without expiry never expires.
    assert!(merchant_code::verify(&payload, &key.public_key(), u64::MAX).is_ok());
}

#[test]
fn dynamic_code_round_trips() {
    let key = key_n(2);
    let payload = merchant_code::generate(&key, &dynamic_code("12.50", T0 + 900)).unwrap();
    let emv = emv::decode(&payload).unwrap();
    assert_eq!(emv.poi_method(), Some("12"));
    assert_eq!(emv.amount_text(), Some("12.50"));
    assert_eq!(emv.currency(), "978");
    let code = merchant_code::verify(&payload, &key.public_key(), T0).unwrap();
    assert!(code.is_dynamic());
    assert_eq!(code.amount(), Some(Amount::parse("12.50", eur()).unwrap()));
    assert_eq!(code.reference(), Some("order-1042"));
    assert_eq!(code.expires_at_unix(), Some(T0 + 900));
}

#[test]
fn amounts_keep_their_currency_exponent() {
    let key = key_n(3);
    for (amount, currency) in [("1500", "JPY"), ("3.125", "KWD"), ("0.01", "USD")] {
        let currency = Currency::from_code(currency).unwrap();
        let new = NewMerchantCode {
            currency,
            kind: CodeKind::Dynamic {
                amount: Amount::parse(amount, currency).unwrap(),
                reference: "r1".to_owned(),
                expires_at_unix: T0 + 60,
            },
            ..static_code(None)
        };
        let payload = merchant_code::generate(&key, &new).unwrap();
        assert_eq!(emv::decode(&payload).unwrap().amount_text(), Some(amount));
        let code = merchant_code::verify(&payload, &key.public_key(), T0).unwrap();
        assert_eq!(code.amount().unwrap().to_string(), amount);
    }
}

#[test]
fn decode_reads_merchant_and_key_id_before_the_key_is_known() {
    let key = key_n(4);
    let payload = merchant_code::generate(&key, &static_code(None)).unwrap();
    let unverified = merchant_code::decode(&payload).unwrap();
    assert_eq!(unverified.merchant_id(), "mer_7Hq2LmX9pR4sT6vW");
    assert_eq!(unverified.key_id(), key.key_id());
    assert!(unverified.verify(&key.public_key(), T0).is_ok());
}

#[test]
fn rendered_images_scan_back_and_verify() {
    let key = key_n(5);
    for new in [static_code(None), dynamic_code("99.99", T0 + 600)] {
        let payload = merchant_code::generate(&key, &new).unwrap();
        let qr = Qr::new(&payload).unwrap();
        for scanned in [scan_png(&qr.to_png().unwrap()), scan_svg(&qr.to_svg())] {
            assert_eq!(scanned.text, payload);
            let code = merchant_code::verify(&scanned.text, &key.public_key(), T0).unwrap();
            assert_eq!(code.merchant_name(), "Corner Coffee");
        }
    }
}

/// Replacement characters: digits, letters, Z85 punctuation, a space and a non-ASCII letter.
const REPLACEMENTS: &str = "059AZaz.-:+=^!/*?&<>()[]{}@%$# é";

#[test]
fn changing_any_single_character_is_caught() {
    let key = key_n(6);
    let public = key.public_key();
    for new in [static_code(None), dynamic_code("12.50", T0 + 900)] {
        let payload = merchant_code::generate(&key, &new).unwrap();
        let crc_object_start = payload.len() - 8;
        let mut bad_signatures = 0;
        for (i, original) in payload.char_indices() {
            for replacement in REPLACEMENTS.chars().filter(|&c| c != original) {
                let mut changed = payload.clone();
                changed.replace_range(i..i + original.len_utf8(), &replacement.to_string());
                merchant_code::verify(&changed, &public, T0)
                    .expect_err(&format!("change at {i} to {replacement:?} was accepted"));
                if i >= crc_object_start {
                    continue;
                }
                // The CRC catches most changes first; recompute it so the Purse checks (and the
                // signature above all) must catch the change themselves.
                let without_crc = &changed[..changed.len() - 8];
                let recrc = emv::append_crc(without_crc.to_owned());
                let err = merchant_code::verify(&recrc, &public, T0).expect_err(&format!(
                    "change at {i} to {replacement:?} with a fresh CRC was accepted"
                ));
                if matches!(err, MerchantCodeError::BadSignature) {
                    bad_signatures += 1;
                }
            }
        }
        // Most single changes keep the TLV intact and must be refused by the signature itself.
        assert!(
            bad_signatures > payload.len() * 10,
            "only {bad_signatures} changes reached the signature check"
        );
    }
}

#[test]
fn lower_case_crc_is_refused_for_purse_codes() {
    let key = key_n(7);
    let payload = merchant_code::generate(&key, &static_code(None)).unwrap();
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc.bytes().any(|b| b.is_ascii_alphabetic()) {
        let lower = format!("{body}{}", crc.to_lowercase());
        assert!(
            emv::decode(&lower).is_ok(),
            "EMV itself accepts a lower-case CRC"
        );
        let err = merchant_code::verify(&lower, &key.public_key(), T0).unwrap_err();
        assert_eq!(err.code(), "merchant_code_invalid");
    }
    // Find a code whose CRC has a letter, so the check above is certainly exercised.
    let with_letter = (0..50)
        .map(|n| {
            let id = format!("mer_{n}");
            let new = NewMerchantCode {
                merchant_id: &id,
                ..static_code(None)
            };
            merchant_code::generate(&key, &new).unwrap()
        })
        .find(|p| p[p.len() - 4..].bytes().any(|b| b.is_ascii_alphabetic()))
        .unwrap();
    let (body, crc) = with_letter.split_at(with_letter.len() - 4);
    let lower = format!("{body}{}", crc.to_lowercase());
    assert_eq!(
        merchant_code::verify(&lower, &key.public_key(), T0)
            .unwrap_err()
            .code(),
        "merchant_code_invalid"
    );
}

#[test]
fn expiry_has_an_exact_edge_with_clock_skew() {
    let key = key_n(8);
    let payload = merchant_code::generate(&key, &dynamic_code("5.00", T0)).unwrap();
    let public = key.public_key();
    assert!(merchant_code::verify(&payload, &public, T0 + CLOCK_SKEW_SECS - 1).is_ok());
    let err = merchant_code::verify(&payload, &public, T0 + CLOCK_SKEW_SECS).unwrap_err();
    assert_eq!(err.code(), "merchant_code_expired");
    assert!(matches!(
        err,
        MerchantCodeError::Expired {
            expires_at_unix: T0,
            ..
        }
    ));
    // A static code with an expiry expires the same way.
    let sticker = merchant_code::generate(&key, &static_code(Some(T0))).unwrap();
    assert_eq!(
        merchant_code::verify(&sticker, &public, T0 + CLOCK_SKEW_SECS)
            .unwrap_err()
            .code(),
        "merchant_code_expired"
    );
}

#[test]
fn another_merchants_key_is_refused() {
    let payload = merchant_code::generate(&key_n(9), &static_code(None)).unwrap();
    let err = merchant_code::verify(&payload, &key_n(10).public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_wrong_key");
}

/// The Purse account fields of `static_code`, with `key`'s key id.
fn account_fields(key_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("01", "mer_7Hq2LmX9pR4sT6vW".to_owned()),
        ("02", key_id.to_owned()),
    ]
}

/// A Purse-looking payload built by hand (no signature yet): the Purse account template with
/// `account` sub-tags, the fields of `static_code`, and whatever `extra` adds.
fn hand_built(
    account: &[(&str, String)],
    extra: impl FnOnce(PayloadBuilder) -> PayloadBuilder,
) -> PayloadBuilder {
    let account: Vec<(&str, &str)> = account.iter().map(|(k, v)| (*k, v.as_str())).collect();
    extra(
        PayloadBuilder::new()
            .poi_method(PoiMethod::Static)
            .merchant_account("26", merchant_code::GUID, &account)
            .mcc("5814")
            .currency("978")
            .country("PT")
            .merchant_name("Corner Coffee")
            .merchant_city("Lisbon"),
    )
}

/// Signs `builder`'s payload the way `generate` does, with any key and signature template id.
fn sign_by_hand(builder: PayloadBuilder, key: &SecretKey, template_id: &str) -> String {
    let unsigned = builder.encode_without_crc().unwrap();
    let signature = key.sign(unsigned.as_bytes()).unwrap();
    let z85 = z85(&signature.to_bytes());
    let signed = builder
        .unreserved_template(template_id, merchant_code::GUID, &[("01", &z85)])
        .encode_without_crc()
        .unwrap();
    emv::append_crc(signed)
}

/// Independent Z85 encoder (ZeroMQ RFC 32); the library's own is private.
fn z85(bytes: &[u8; 64]) -> String {
    const A: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    let mut out = String::new();
    for chunk in bytes.chunks(4) {
        let n = u32::from_be_bytes(chunk.try_into().unwrap());
        for power in (0..5).rev() {
            out.push(char::from(A[(n / 85u32.pow(power) % 85) as usize]));
        }
    }
    out
}

#[test]
fn a_hand_signed_code_verifies_so_the_spec_is_complete() {
    // Built only from the documented rules (not with `generate`): proves the document's recipe.
    let key = fixed_key();
    let payload = sign_by_hand(
        hand_built(&account_fields(&key.key_id().to_string()), |b| b),
        &key,
        "80",
    );
    assert_eq!(
        payload,
        merchant_code::generate(&key, &static_code(None)).unwrap()
    );
    // The template id is not signed, so only 80 is accepted: 81-99 would be a free change.
    let at_99 = sign_by_hand(
        hand_built(&account_fields(&key.key_id().to_string()), |b| b),
        &key,
        "99",
    );
    let err = merchant_code::verify(&at_99, &key.public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_invalid");
}

#[test]
fn forged_signature_with_the_right_key_id_is_bad_signature() {
    let victim = key_n(11);
    let attacker = key_n(12);
    let forged = sign_by_hand(
        hand_built(&account_fields(&victim.key_id().to_string()), |b| b),
        &attacker,
        "80",
    );
    let err = merchant_code::verify(&forged, &victim.public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_bad_signature");
}

#[test]
fn third_party_codes_are_not_purse_codes() {
    // PromptPay (Thailand) and Pix (Brazil) codes: valid EMV, no Purse account template.
    for payload in [
        "00020101021129370016A000000677010111011300668912345675802TH5303764630429C1",
        &PayloadBuilder::new()
            .poi_method(PoiMethod::Static)
            .merchant_account("26", "br.gov.bcb.pix", &[("01", "fulano@example.com")])
            .mcc("0000")
            .currency("986")
            .country("BR")
            .merchant_name("Fulano de Tal")
            .merchant_city("BRASILIA")
            .build()
            .unwrap()
            .to_string(),
    ] {
        let err = merchant_code::verify(payload, &key_n(1).public_key(), T0).unwrap_err();
        assert_eq!(err.code(), "not_purse_code", "{payload}");
    }
}

#[test]
fn purse_account_without_signature_is_unsigned() {
    let key = key_n(13);
    let payload = hand_built(&account_fields(&key.key_id().to_string()), |b| b)
        .build()
        .unwrap()
        .to_string();
    let err = merchant_code::verify(&payload, &key.public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_unsigned");
    // Another scheme's unreserved template in the signature's place is no signature either.
    let other = hand_built(&account_fields(&key.key_id().to_string()), |b| {
        b.unreserved_template("80", "com.example", &[("01", "x")])
    })
    .build()
    .unwrap()
    .to_string();
    let err = merchant_code::verify(&other, &key.public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_unsigned");
}

#[test]
fn unsigned_codes_are_valid_emv_but_never_verify() {
    let key = key_n(21);
    for new in [static_code(Some(T0 + 60)), dynamic_code("3.00", T0 + 60)] {
        let payload = merchant_code::encode_unsigned(&new).unwrap();
        let emv = emv::decode(&payload).unwrap();
        let account = emv.merchant_account(merchant_code::GUID).unwrap();
        assert_eq!(
            account.get("01").unwrap().text(),
            Some("mer_7Hq2LmX9pR4sT6vW")
        );
        assert!(account.get("02").is_none(), "no key id without a key");
        assert_eq!(account.get("03").unwrap().text(), Some("1750000060"));
        let err = merchant_code::verify(&payload, &key.public_key(), T0).unwrap_err();
        assert_eq!(err.code(), "merchant_code_unsigned");
    }
    // Field rules apply to unsigned codes too.
    let bad = NewMerchantCode {
        mcc: "58",
        ..static_code(None)
    };
    assert_eq!(
        merchant_code::encode_unsigned(&bad).unwrap_err().code(),
        "merchant_code_field_invalid"
    );
}

#[test]
fn layout_violations_are_invalid() {
    let key = key_n(14);
    let key_id = key.key_id().to_string();
    // An object after the signature template would ride along unsigned.
    let genuine = merchant_code::generate(&key, &static_code(None)).unwrap();
    let mut objects = emv::decode(&genuine).unwrap().objects().to_vec();
    objects.pop(); // the CRC
    objects.push(
        emv::DataObject::template(
            "90",
            vec![
                emv::DataObject::primitive("00", "com.example").unwrap(),
                emv::DataObject::primitive("01", "unsigned").unwrap(),
            ],
        )
        .unwrap(),
    );
    let trailing = emv::append_crc(emv::encode_objects(&objects).unwrap());
    let err = merchant_code::verify(&trailing, &key.public_key(), T0).unwrap_err();
    assert_eq!(err.code(), "merchant_code_invalid");

    let signed = |account: &[(&str, String)], extra: fn(PayloadBuilder) -> PayloadBuilder| {
        sign_by_hand(hand_built(account, extra), &key, "80")
    };
    let mut bad_expiry = account_fields(&key_id);
    bad_expiry.push(("03", "17e9".to_owned()));
    let mut expiring = account_fields(&key_id);
    expiring.push(("03", (T0 + 60).to_string()));
    let cases = [
        (signed(&[("02", key_id.clone())], |b| b), "no merchant id"),
        (signed(&[("01", "mer_1".to_owned())], |b| b), "no key id"),
        (
            signed(&[("01", "mer 1".to_owned()), ("02", key_id.clone())], |b| b),
            "merchant id with a space",
        ),
        (
            signed(
                &[("01", "mer_1".to_owned()), ("02", key_id.to_uppercase())],
                |b| b,
            ),
            "upper-case key id",
        ),
        (signed(&bad_expiry, |b| b), "expiry"),
        (
            signed(&account_fields(&key_id), |b| b.amount("1.00")),
            "static with amount",
        ),
        (
            signed(&account_fields(&key_id), |b| {
                b.poi_method(PoiMethod::Dynamic).amount("1.00")
            }),
            "dynamic without reference and expiry",
        ),
        (
            signed(&expiring, |b| {
                b.poi_method(PoiMethod::Dynamic)
                    .amount("1.005")
                    .additional_data(&[("05", "r")])
            }),
            "amount with more decimals than the currency has",
        ),
    ];
    // The same, well formed, verifies: the cases above fail for the reason they name.
    let fine = sign_by_hand(
        hand_built(&expiring, |b| {
            b.poi_method(PoiMethod::Dynamic)
                .amount("1.00")
                .additional_data(&[("05", "r")])
        }),
        &key,
        "80",
    );
    assert!(merchant_code::verify(&fine, &key.public_key(), T0).is_ok());
    for (payload, what) in &cases {
        let err = merchant_code::verify(payload, &key.public_key(), T0).expect_err(what);
        assert_eq!(err.code(), "merchant_code_invalid", "{what}: {err}");
    }
}

#[test]
fn signature_template_must_hold_exactly_guid_then_signature() {
    let key = key_n(15);
    let builder = hand_built(&account_fields(&key.key_id().to_string()), |b| b);
    let unsigned = builder.encode_without_crc().unwrap();
    let z = z85(&key.sign(unsigned.as_bytes()).unwrap().to_bytes());
    let variants: Vec<Vec<(&str, &str)>> = vec![
        vec![("01", &z)],                                    // no GUID
        vec![("00", "APP.PURSE"), ("01", &z)],               // GUID in another case
        vec![("00", merchant_code::GUID), ("02", &z)],       // signature under another sub-tag
        vec![("00", merchant_code::GUID), ("01", &z[..79])], // short signature
        vec![("01", &z), ("00", merchant_code::GUID)],       // sub-tags swapped
    ];
    for fields in variants {
        let payload = emv::append_crc(
            builder
                .clone()
                .template("80", &fields)
                .encode_without_crc()
                .unwrap(),
        );
        let err = merchant_code::verify(&payload, &key.public_key(), T0).unwrap_err();
        assert!(
            matches!(
                err.code(),
                "merchant_code_invalid" | "merchant_code_unsigned"
            ),
            "{fields:?}: {}",
            err.code()
        );
    }
}

#[test]
fn emv_errors_pass_through_with_their_own_codes() {
    let key = key_n(16);
    let payload = merchant_code::generate(&key, &static_code(None)).unwrap();
    let broken_crc = format!("{}0000", &payload[..payload.len() - 4]);
    let codes = [
        merchant_code::verify(&broken_crc, &key.public_key(), T0),
        merchant_code::verify(&payload[..payload.len() - 8], &key.public_key(), T0),
        merchant_code::verify("", &key.public_key(), T0),
    ]
    .map(|result| result.unwrap_err().code());
    assert_eq!(codes[0], "crc_mismatch");
    assert_eq!(codes[1], "crc_missing");
    assert_eq!(codes[2], "too_short");
}

#[test]
fn generate_refuses_fields_emv_cannot_carry() {
    let key = key_n(17);
    let too_big = Amount::from_minor(purse_core::money::AMOUNT_MINOR_MAX, eur()).unwrap();
    let usd_amount = Amount::parse("1.00", Currency::from_code("USD").unwrap()).unwrap();
    let base = static_code(None);
    let long_id = "m".repeat(41);
    let long_reference = CodeKind::Dynamic {
        amount: Amount::parse("1.00", eur()).unwrap(),
        reference: "r".repeat(26),
        expires_at_unix: T0,
    };
    let cases: Vec<(NewMerchantCode<'_>, &str)> = vec![
        (
            NewMerchantCode {
                merchant_name: "An Extremely Long Cafe Nam",
                ..base.clone()
            },
            "merchant_name",
        ),
        (
            NewMerchantCode {
                merchant_name: "",
                ..base.clone()
            },
            "merchant_name",
        ),
        (
            NewMerchantCode {
                city: "Vila Nova de Gaia",
                ..base.clone()
            },
            "city",
        ),
        (
            NewMerchantCode {
                country: "pt",
                ..base.clone()
            },
            "country",
        ),
        (
            NewMerchantCode {
                mcc: "58a4",
                ..base.clone()
            },
            "mcc",
        ),
        (
            NewMerchantCode {
                merchant_id: "mer 1",
                ..base.clone()
            },
            "merchant_id",
        ),
        (
            NewMerchantCode {
                merchant_id: &long_id,
                ..base.clone()
            },
            "merchant_id",
        ),
        (
            NewMerchantCode {
                kind: CodeKind::Dynamic {
                    amount: too_big,
                    reference: "r".to_owned(),
                    expires_at_unix: T0,
                },
                ..base.clone()
            },
            "amount",
        ),
        (
            NewMerchantCode {
                kind: CodeKind::Dynamic {
                    amount: usd_amount,
                    reference: "r".to_owned(),
                    expires_at_unix: T0,
                },
                ..base.clone()
            },
            "amount",
        ),
        (
            NewMerchantCode {
                kind: long_reference,
                ..base.clone()
            },
            "reference",
        ),
    ];
    for (new, field) in cases {
        match merchant_code::generate(&key, &new) {
            Err(MerchantCodeError::FieldInvalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: expected field_invalid, got {other:?}"),
        }
    }
    // The limits themselves are accepted: 25-character name, 15-character city.
    let at_limits = NewMerchantCode {
        merchant_name: "An Extremely Long Cafe Na",
        city: "Vila Nova de Ga",
        ..base
    };
    assert!(merchant_code::generate(&key, &at_limits).is_ok());
}

/// A keystore that signs with a key other than the one it claims.
struct WrongKeystore {
    claimed: PublicKey,
    real: SecretKey,
}

impl Signer for WrongKeystore {
    fn public_key(&self) -> PublicKey {
        self.claimed
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        self.real.sign(message)
    }
}

#[test]
fn a_keystore_signing_with_the_wrong_key_is_caught_at_generation() {
    let signer = WrongKeystore {
        claimed: key_n(18).public_key(),
        real: key_n(19),
    };
    let err = merchant_code::generate(&signer, &static_code(None)).unwrap_err();
    assert_eq!(err.code(), "signer_failed");
}

// ---------------------------------------------------------------------------------------------
// Test vectors of docs/formats.md

#[derive(serde::Deserialize)]
struct Vector {
    secret_key_hex: String,
    public_key: String,
    input: VectorInput,
    signed_text: String,
    payload: String,
    checks: Vec<VectorCheck>,
}

#[derive(serde::Deserialize)]
struct VectorInput {
    merchant_id: String,
    merchant_name: String,
    city: String,
    country: String,
    mcc: String,
    currency: String,
    amount: Option<String>,
    reference: Option<String>,
    expires_at_unix: Option<u64>,
}

#[derive(serde::Deserialize)]
struct VectorCheck {
    now_unix: u64,
    #[serde(default)]
    public_key: Option<String>,
    result: String,
}

#[test]
fn docs_test_vectors_match_the_code() {
    let vectors: Vec<Vector> = doc_vectors("merchant_code");
    assert!(
        vectors.len() >= 2,
        "docs/formats.md lost its merchant code vectors"
    );
    let mut results = std::collections::BTreeSet::new();
    for vector in vectors {
        let seed: [u8; 32] = crate::util::hex(&vector.secret_key_hex).try_into().unwrap();
        let key = SecretKey::from_bytes(&seed);
        assert_eq!(key.public_key().to_string(), vector.public_key);
        let input = &vector.input;
        let currency = Currency::from_code(&input.currency).unwrap();
        let kind = match (&input.amount, &input.reference) {
            (Some(amount), Some(reference)) => CodeKind::Dynamic {
                amount: Amount::parse(amount, currency).unwrap(),
                reference: reference.clone(),
                expires_at_unix: input.expires_at_unix.unwrap(),
            },
            _ => CodeKind::Static {
                expires_at_unix: input.expires_at_unix,
            },
        };
        let new = NewMerchantCode {
            merchant_id: &input.merchant_id,
            merchant_name: &input.merchant_name,
            city: &input.city,
            country: &input.country,
            mcc: &input.mcc,
            currency,
            kind,
        };
        let payload = merchant_code::generate(&key, &new).unwrap();
        assert_eq!(payload, vector.payload);
        // The signed text is exactly the payload up to the signature template's id.
        assert!(payload.starts_with(&vector.signed_text));
        assert!(payload[vector.signed_text.len()..].starts_with("80"));
        let signature = key.sign(vector.signed_text.as_bytes()).unwrap();
        assert!(payload.contains(&z85(&signature.to_bytes())));
        for check in &vector.checks {
            let public: PublicKey = check
                .public_key
                .as_deref()
                .unwrap_or(&vector.public_key)
                .parse()
                .unwrap();
            let code = match merchant_code::verify(&vector.payload, &public, check.now_unix) {
                Ok(_) => "ok",
                Err(err) => err.code(),
            };
            assert_eq!(code, check.result, "check at now={}", check.now_unix);
            results.insert(check.result.clone());
        }
    }
    for expected in ["ok", "merchant_code_expired", "merchant_code_wrong_key"] {
        assert!(results.contains(expected), "no vector check for {expected}");
    }
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_text(text in ".{0,300}") {
        let _ = merchant_code::verify(&text, &key_n(1).public_key(), T0);
    }

    #[test]
    fn verify_never_panics_on_tlv_like_text(text in "[0-9]{0,8}(26[0-9]{2}0009app\\.purse[ -~]{0,60})?[0-9A-Za-z.]{0,40}(6304[0-9A-F]{4})?") {
        let _ = merchant_code::decode(&text);
        let _ = merchant_code::decode(&emv::append_crc(text));
    }

    #[test]
    fn no_mutation_of_a_signed_code_verifies(
        position in 0usize..200,
        replacement in "[ -~]",
        dynamic in any::<bool>(),
    ) {
        let key = key_n(20);
        let new = if dynamic { dynamic_code("7.77", T0 + 300) } else { static_code(None) };
        let payload = merchant_code::generate(&key, &new).unwrap();
        let position = position % (payload.len() - 8);
        prop_assume!(payload[position..].chars().next().map(String::from) != Some(replacement.clone()));
        let mut changed = payload.clone();
        changed.replace_range(position..position + 1, &replacement);
        let recrc = emv::append_crc(changed[..changed.len() - 8].to_owned());
        prop_assert!(merchant_code::verify(&recrc, &key.public_key(), T0).is_err());
    }
}
