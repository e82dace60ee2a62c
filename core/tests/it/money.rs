//! Tests for `money`: the ISO 4217 table and exact amount parsing, formatting and conversion.

use std::collections::HashSet;

use proptest::prelude::*;
use purse_core::money::{AMOUNT_MINOR_MAX, AMOUNT_TEXT_MAX, Amount, Currency, format_minor};
use rust_decimal::Decimal;

fn cur(code: &str) -> &'static Currency {
    Currency::from_code(code).unwrap()
}

fn parse_err(text: &str, code: &str) -> &'static str {
    Amount::parse(text, cur(code)).unwrap_err().code()
}

#[test]
fn table_is_sorted_unique_and_well_formed() {
    let all = Currency::all();
    assert!(all.len() >= 150, "only {} currencies", all.len());
    for pair in all.windows(2) {
        assert!(
            pair[0].code < pair[1].code,
            "{} !< {}",
            pair[0].code,
            pair[1].code
        );
    }
    let mut numerics = HashSet::new();
    for c in all {
        assert!(numerics.insert(c.numeric), "numeric {} twice", c.numeric);
        assert_eq!(c.code.len(), 3);
        assert!(c.code.bytes().all(|b| b.is_ascii_uppercase()), "{}", c.code);
        assert!((1..=999).contains(&c.numeric), "{}", c.code);
        assert!(c.exponent <= 4, "{}", c.code);
        assert!(!c.name.is_empty());
        assert_eq!(Currency::from_code(c.code).unwrap(), c);
        assert_eq!(Currency::from_numeric(c.numeric).unwrap(), c);
    }
}

#[test]
fn table_exponents_follow_iso_4217() {
    for (code, numeric, exponent) in [
        ("USD", 840, 2),
        ("EUR", 978, 2),
        ("JPY", 392, 0),
        ("KRW", 410, 0),
        ("VND", 704, 0),
        ("XOF", 952, 0),
        ("KWD", 414, 3),
        ("BHD", 48, 3),
        ("JOD", 400, 3),
        ("OMR", 512, 3),
        ("TND", 788, 3),
        ("IQD", 368, 3),
        ("LYD", 434, 3),
        ("CLF", 990, 4),
        ("UYW", 927, 4),
        ("BRL", 986, 2),
        ("THB", 764, 2),
        ("SGD", 702, 2),
        ("IDR", 360, 2),
        ("KHR", 116, 2),
        ("XCG", 532, 2),
        ("ZWG", 924, 2),
        ("SLE", 925, 2),
    ] {
        let c = cur(code);
        assert_eq!((c.numeric, c.exponent), (numeric, exponent), "{code}");
    }
}

#[test]
fn table_leaves_out_withdrawn_and_unitless_codes() {
    for code in [
        "XAU", "XAG", "XDR", "XXX", "XTS", "HRK", "CUC", "ANG", "ZWL", "SLL", "VEF",
    ] {
        assert_eq!(
            Currency::from_code(code).unwrap_err().code(),
            "currency_unknown",
            "{code}"
        );
    }
}

#[test]
fn lookups_refuse_unknown_and_lower_case() {
    for code in ["usd", "Usd", "", "US", "USDX", " USD", "ÜSD"] {
        assert_eq!(
            Currency::from_code(code).unwrap_err().code(),
            "currency_unknown",
            "{code:?}"
        );
    }
    for numeric in [0, 1, 999, 1000, u16::MAX] {
        assert_eq!(
            Currency::from_numeric(numeric).unwrap_err().code(),
            "currency_unknown"
        );
    }
}

#[test]
fn parse_reads_exact_minor_units() {
    for (text, code, minor, shown) in [
        ("12.50", "USD", 1250, "12.50"),
        ("12.5", "USD", 1250, "12.50"),
        ("12", "USD", 1200, "12.00"),
        ("0.01", "USD", 1, "0.01"),
        ("007.10", "USD", 710, "7.10"),
        ("1000", "JPY", 1000, "1000"),
        ("1.250", "KWD", 1250, "1.250"),
        ("1.25", "BHD", 1250, "1.250"),
        ("0.001", "KWD", 1, "0.001"),
        ("1.2345", "CLF", 12345, "1.2345"),
        (
            "10000000000000.00",
            "USD",
            AMOUNT_MINOR_MAX,
            "10000000000000.00",
        ),
        (
            "1000000000000000",
            "JPY",
            AMOUNT_MINOR_MAX,
            "1000000000000000",
        ),
    ] {
        let amount = Amount::parse(text, cur(code)).unwrap();
        assert_eq!(amount.minor(), minor, "{text} {code}");
        assert_eq!(amount.currency().code, code);
        assert_eq!(amount.to_string(), shown, "{text} {code}");
        assert_eq!(Amount::parse(shown, cur(code)).unwrap(), amount);
    }
}

#[test]
fn parse_refuses_excess_scale_without_rounding() {
    assert_eq!(parse_err("1.005", "USD"), "amount_too_precise");
    assert_eq!(parse_err("1.000", "USD"), "amount_too_precise");
    assert_eq!(parse_err("1.5", "JPY"), "amount_too_precise");
    assert_eq!(parse_err("1.0", "JPY"), "amount_too_precise");
    assert_eq!(parse_err("1.0001", "KWD"), "amount_too_precise");
    assert_eq!(parse_err("1.23456", "CLF"), "amount_too_precise");
}

#[test]
fn parse_refuses_zero_and_negative() {
    for text in ["0", "0.00", "0.0", "000", "-1", "-0.01", "-0"] {
        assert_eq!(parse_err(text, "USD"), "amount_not_positive", "{text}");
    }
}

#[test]
fn parse_refuses_absurd_amounts() {
    assert_eq!(parse_err("10000000000000.01", "USD"), "amount_too_large");
    assert_eq!(parse_err("1000000000000001", "JPY"), "amount_too_large");
    assert_eq!(
        parse_err("99999999999999999999999999", "USD"),
        "amount_too_large"
    );
    // 32 digits is the longest accepted text; its value still overflows i64 many times over.
    let longest = "9".repeat(AMOUNT_TEXT_MAX);
    assert_eq!(parse_err(&longest, "JPY"), "amount_too_large");
}

#[test]
fn parse_refuses_malformed_text() {
    let too_long = format!("{}1", "0".repeat(AMOUNT_TEXT_MAX));
    for text in [
        "",
        "1e3",
        "1E3",
        "+1",
        " 1",
        "1 ",
        "1.",
        ".5",
        "1,00",
        "1_000",
        "1.2.3",
        "--1",
        "-",
        ".",
        "0x10",
        "١٢",
        "１２",
        "12.5\u{0}",
        "NaN",
        "inf",
        "1.-5",
        "1..0",
        "12.50 USD",
        &too_long,
    ] {
        assert_eq!(parse_err(text, "USD"), "amount_malformed", "{text:?}");
    }
}

#[test]
fn from_minor_checks_range() {
    let usd = cur("USD");
    assert_eq!(Amount::from_minor(1, usd).unwrap().to_string(), "0.01");
    assert_eq!(
        Amount::from_minor(AMOUNT_MINOR_MAX, usd).unwrap().minor(),
        AMOUNT_MINOR_MAX
    );
    assert_eq!(
        Amount::from_minor(0, usd).unwrap_err().code(),
        "amount_not_positive"
    );
    assert_eq!(
        Amount::from_minor(i64::MIN, usd).unwrap_err().code(),
        "amount_not_positive"
    );
    assert_eq!(
        Amount::from_minor(AMOUNT_MINOR_MAX + 1, usd)
            .unwrap_err()
            .code(),
        "amount_too_large"
    );
    assert_eq!(
        Amount::from_minor(i64::MAX, usd).unwrap_err().code(),
        "amount_too_large"
    );
}

#[test]
fn decimal_conversion_is_exact() {
    let usd = cur("USD");
    let dec = |s: &str| s.parse::<Decimal>().unwrap();
    let amount = Amount::from_decimal(dec("12.5"), usd).unwrap();
    assert_eq!(amount.minor(), 1250);
    assert_eq!(amount.to_decimal(), dec("12.50"));
    assert_eq!(amount.to_decimal().scale(), 2);
    assert_eq!(
        Amount::from_decimal(dec("1.000"), usd).unwrap().minor(),
        100
    );
    assert_eq!(
        Amount::from_decimal(dec("1.005"), usd).unwrap_err().code(),
        "amount_too_precise"
    );
    assert_eq!(
        Amount::from_decimal(dec("0"), usd).unwrap_err().code(),
        "amount_not_positive"
    );
    assert_eq!(
        Amount::from_decimal(dec("-3"), usd).unwrap_err().code(),
        "amount_not_positive"
    );
    assert_eq!(
        Amount::from_decimal(dec("10000000000000.01"), usd)
            .unwrap_err()
            .code(),
        "amount_too_large"
    );
    assert_eq!(
        Amount::from_decimal(Decimal::MAX, usd).unwrap_err().code(),
        "amount_too_large"
    );
    let jpy = cur("JPY");
    assert_eq!(
        Amount::from_decimal(dec("0.5"), jpy).unwrap_err().code(),
        "amount_too_precise"
    );
    assert_eq!(
        Amount::from_decimal(dec("500"), jpy)
            .unwrap()
            .to_decimal()
            .scale(),
        0
    );
}

#[test]
fn format_minor_handles_balances_of_any_sign() {
    let (usd, jpy, kwd) = (cur("USD"), cur("JPY"), cur("KWD"));
    assert_eq!(format_minor(0, usd), "0.00");
    assert_eq!(format_minor(-1250, usd), "-12.50");
    assert_eq!(format_minor(-5, usd), "-0.05");
    assert_eq!(format_minor(0, jpy), "0");
    assert_eq!(format_minor(-1000, jpy), "-1000");
    assert_eq!(format_minor(1, kwd), "0.001");
    assert_eq!(format_minor(i64::MIN, usd), "-92233720368547758.08");
    assert_eq!(format_minor(i64::MAX, cur("CLF")), "922337203685477.5807");
}

#[test]
fn amounts_travel_as_two_strings() {
    let amount = Amount::parse("12.50", cur("USD")).unwrap();
    let json = serde_json::to_value(amount).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"amount": "12.50", "currency": "USD"})
    );
    let back: Amount = serde_json::from_value(json).unwrap();
    assert_eq!(back, amount);

    // A JSON number is never read as money, nor is text the parser refuses.
    for bad in [
        serde_json::json!({"amount": 12.5, "currency": "USD"}),
        serde_json::json!({"amount": "1.005", "currency": "USD"}),
        serde_json::json!({"amount": "1", "currency": "usd"}),
        serde_json::json!({"amount": "1"}),
    ] {
        assert!(
            serde_json::from_value::<Amount>(bad.clone()).is_err(),
            "{bad}"
        );
    }

    // Flattened into a larger body, the two fields sit beside the others.
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Body {
        memo: String,
        #[serde(flatten)]
        amount: Amount,
    }
    let body: Body =
        serde_json::from_str(r#"{"memo":"lunch","amount":"9.99","currency":"EUR"}"#).unwrap();
    assert_eq!(body.amount.minor(), 999);
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        r#"{"memo":"lunch","amount":"9.99","currency":"EUR"}"#
    );
}

fn any_currency() -> impl Strategy<Value = &'static Currency> {
    proptest::sample::select(Currency::all().iter().collect::<Vec<_>>())
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,40}", currency in any_currency()) {
        let _ = Amount::parse(&text, currency);
    }

    #[test]
    fn parse_never_panics_on_amount_like_text(text in "-?[0-9]{0,20}(\\.[0-9]{0,6})?", currency in any_currency()) {
        match Amount::parse(&text, currency) {
            Ok(amount) => {
                // Accepted text denotes exactly the parsed value.
                prop_assert_eq!(amount.to_decimal(), text.parse::<Decimal>().unwrap());
            }
            Err(e) => prop_assert!(!e.code().is_empty()),
        }
    }

    #[test]
    fn minor_display_parse_round_trip(minor in 1..=AMOUNT_MINOR_MAX, currency in any_currency()) {
        let amount = Amount::from_minor(minor, currency).unwrap();
        let text = amount.to_string();
        let decimals = text.split_once('.').map_or(0, |(_, f)| f.len());
        prop_assert_eq!(decimals, usize::from(currency.exponent));
        prop_assert_eq!(Amount::parse(&text, currency).unwrap(), amount);
        prop_assert_eq!(Amount::from_decimal(amount.to_decimal(), currency).unwrap(), amount);
        prop_assert_eq!(text, format_minor(minor, currency));
    }
}
