//! Decimal text <-> minor units for the ledger's operator surfaces (`purse admin fund`, the admin
//! API). A stand-in kept deliberately small and private to the ledger until `purse_core::money`
//! (being written in the core branch) is merged: then `parse_amount` becomes
//! `Amount::parse(text, Currency::from_code(code)?)` and `format_minor` becomes
//! `money::format_minor`, and this file goes. Never rounds; never uses floats.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::{AMOUNT_MINOR_MAX, LedgerError};

/// Decimal places of an ISO 4217 currency (the few with other than two).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `"12.50"` in USD -> 1250. Rejects more decimals than the currency has, zero, negatives and
/// amounts over 10^15 minor units.
pub fn parse_amount(text: &str, currency: &str) -> Result<i64, LedgerError> {
    let text = text.trim();
    // Plain decimal notation only: digits and at most one point (no sign, exponent or spaces).
    let plain = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1;
    if text.is_empty() || text.len() > 32 || !plain {
        return Err(LedgerError::AmountInvalid);
    }
    let value = Decimal::from_str(text).map_err(|_| LedgerError::AmountInvalid)?;
    let exponent = exponent(currency);
    if value.normalize().scale() > exponent {
        return Err(LedgerError::AmountInvalid);
    }
    let minor = value
        .checked_mul(Decimal::from(10i64.pow(exponent)))
        .ok_or(LedgerError::AmountInvalid)?;
    let minor = i64::try_from(minor.trunc()).map_err(|_| LedgerError::AmountInvalid)?;
    if !(1..=AMOUNT_MINOR_MAX).contains(&minor) {
        return Err(LedgerError::AmountInvalid);
    }
    Ok(minor)
}

/// 1250 in USD -> `"12.50"`; balances may be zero or (system accounts) negative.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let mut value = Decimal::from(minor);
    value
        .set_scale(exponent(currency))
        .expect("an exponent of at most 3 is a valid scale");
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(parse_amount("12.50", "USD").unwrap(), 1250);
        assert_eq!(parse_amount("12.5", "USD").unwrap(), 1250);
        assert_eq!(parse_amount("1000", "JPY").unwrap(), 1000);
        assert_eq!(parse_amount("1.250", "KWD").unwrap(), 1250);
        for bad in ["1.005", "0", "-1", "abc", "", "1e3", "+1", "1.2.3", "10000000000000.01"] {
            assert!(parse_amount(bad, "USD").is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", "JPY").is_err());
        assert_eq!(format_minor(1250, "USD"), "12.50");
        assert_eq!(format_minor(-5, "USD"), "-0.05");
        assert_eq!(format_minor(0, "JPY"), "0");
    }
}
