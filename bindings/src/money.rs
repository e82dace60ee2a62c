//! `Money`, an amount with its currency as two strings ("12.50", "USD"): how amounts cross the
//! FFI. It never carries a float; parsing and its rules (no rounding, positive, bounded) are
//! `purse_core::money`'s.

use purse_core::money::{Amount, Currency, MoneyError};

/// An amount of money: `amount` is a decimal string with at most the currency's decimals
/// ("12.50" USD, "1000" JPY), `currency` an ISO 4217 code ("USD").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

impl Money {
    pub(crate) fn to_amount(&self) -> Result<Amount, MoneyError> {
        Amount::parse(&self.amount, Currency::from_code(&self.currency)?)
    }

    pub(crate) fn from_amount(amount: &Amount) -> Money {
        Money {
            amount: amount.to_string(),
            currency: amount.currency().code.to_owned(),
        }
    }
}
