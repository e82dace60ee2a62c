//! Decimal text <-> minor units for the ledger's operator surfaces (`purse admin fund`, the admin
//! API), by currency code as stored in the ledger. Thin adapters over `purse_core::money` (the one
//! definition of currencies and amounts) that map its errors to ledger errors. Never rounds;
//! never uses floats.

use purse_core::money::{self, Amount, Currency, MoneyError};

use super::LedgerError;

fn currency(code: &str) -> Result<&'static Currency, LedgerError> {
    Currency::from_code(code).map_err(|_| LedgerError::CurrencyInvalid)
}

/// `"12.50"` in USD -> 1250. Rejects more decimals than the currency has, zero, negatives,
/// exponents and amounts over 10^15 minor units (all as `amount_invalid`).
pub fn parse_amount(text: &str, code: &str) -> Result<i64, LedgerError> {
    let currency = currency(code)?;
    match Amount::parse(text.trim(), currency) {
        Ok(amount) => Ok(amount.minor()),
        Err(MoneyError::CurrencyUnknown) => Err(LedgerError::CurrencyInvalid),
        Err(_) => Err(LedgerError::AmountInvalid),
    }
}

/// 1250 in USD -> `"12.50"`; balances may be zero or (system accounts) negative. An unknown code
/// (impossible for stored accounts, which were checked on creation) prints plain minor units.
pub fn format_minor(minor: i64, code: &str) -> String {
    match Currency::from_code(code) {
        Ok(currency) => money::format_minor(minor, currency),
        Err(_) => minor.to_string(),
    }
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
        for bad in [
            "1.005",
            "0",
            "-1",
            "abc",
            "",
            "1e3",
            "+1",
            "1.2.3",
            "10000000000000.01",
        ] {
            assert!(parse_amount(bad, "USD").is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", "JPY").is_err());
        assert_eq!(
            parse_amount("1", "XXY").unwrap_err().code(),
            "currency_invalid"
        );
        assert_eq!(format_minor(1250, "USD"), "12.50");
        assert_eq!(format_minor(-5, "USD"), "-0.05");
        assert_eq!(format_minor(0, "JPY"), "0");
    }
}
