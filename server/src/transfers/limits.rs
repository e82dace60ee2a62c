//! Per-user P2P limits (`[limits]` in the configuration): the largest single transfer, and the
//! largest sum a user sends per currency in a UTC day. A user has one wallet per currency, so the
//! daily sum is kept per wallet, in memory ([`crate::usage`]: reserved before the transfer is
//! posted, seeded from the ledger's `SUM` of today's P2P debits and refreshed every few seconds).
//! It never moves money and never blocks a transfer that the configuration does not limit (both
//! limits are off by default and then cost nothing).

use purse_core::money::{Amount, Currency};
use rust_decimal::Decimal;

use super::TransferError;
use crate::config::LimitsConfig;
use crate::ledger::{Ledger, TransferKind};
use crate::usage::{DailyUsage, Refused};

/// An amount reserved against a wallet's daily limit (see [`crate::usage::Reservation`]).
pub type Reservation = crate::usage::Reservation<String>;

/// The limits and the daily usage of this process.
pub struct Limits {
    transfer_max: Option<Decimal>,
    daily_max: Option<Decimal>,
    /// Per wallet id.
    usage: DailyUsage<String>,
    ledger: Ledger,
}

/// The exact decimal value of `minor` units of `currency` (sums may pass an `Amount`'s bound).
fn to_decimal(minor: i64, currency: &Currency) -> Decimal {
    Decimal::new(minor, u32::from(currency.exponent))
}

impl Limits {
    pub fn new(config: &LimitsConfig, ledger: Ledger) -> Limits {
        Limits {
            transfer_max: config.transfer_max,
            daily_max: config.daily_max,
            usage: DailyUsage::default(),
            ledger,
        }
    }

    /// Refuses one transfer above `transfer_max`.
    pub fn check_transfer(&self, amount: &Amount) -> Result<(), TransferError> {
        match self.transfer_max {
            Some(max) if amount.to_decimal() > max => Err(TransferError::TransferLimitExceeded),
            _ => Ok(()),
        }
    }

    /// Reserves the amount against the daily limit of `wallet_id` (see [`crate::usage`]).
    pub async fn reserve_daily(
        &self,
        wallet_id: &str,
        amount: &Amount,
        now_ms: i64,
    ) -> Result<Reservation, TransferError> {
        let Some(max) = self.daily_max else {
            return Ok(Reservation::none());
        };
        let currency = amount.currency();
        let reserved = self
            .usage
            .reserve(
                wallet_id.to_owned(),
                amount.minor(),
                now_ms,
                |after| to_decimal(after, currency) <= max,
                |day_start_ms| {
                    self.ledger
                        .debited_since(wallet_id, TransferKind::P2p, day_start_ms)
                },
            )
            .await;
        reserved.map_err(|refused| match refused {
            Refused::OverLimit => TransferError::DailyLimitExceeded,
            Refused::Seed(err) => TransferError::Storage(err.to_string()),
        })
    }
}
