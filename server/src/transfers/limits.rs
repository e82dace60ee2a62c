//! Per-user P2P limits (`[limits]` in the configuration): the largest single transfer, and the
//! largest sum a user sends per currency in a UTC day. A user has one wallet per currency, so the
//! daily sum is kept per wallet. It never moves money and never blocks a transfer that the
//! configuration does not limit (both limits are off by default and then cost nothing).
//!
//! # Daily sums without a database write per transfer
//!
//! Each wallet's usage lives in memory: `used_minor` counts transfers committed today plus those
//! in flight. A transfer *reserves* its amount before it is posted (refused when the sum would
//! pass the limit); a definite failure gives the reservation back, anything else (success, an
//! unknown outcome, a dropped request) keeps it, so errors only ever over-count.
//!
//! The count is seeded from the ledger (`SUM` of today's P2P debits) on a wallet's first transfer
//! of the day and refreshed every [`USAGE_REFRESH_MS`], so transfers sent through another server
//! process are seen within that time: with several processes a user could pass the limit only by
//! sending through two processes within one refresh interval. A refresh counts
//! `ledger sum + in flight + succeeded during the read`, which may count a transfer twice (never
//! zero times), so refreshing also errs on the side of refusing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use purse_core::money::{Amount, Currency};
use rust_decimal::Decimal;

use super::TransferError;
use crate::config::LimitsConfig;
use crate::ledger::{Ledger, TransferKind};

/// How long a seeded daily count is trusted before it is re-read from the ledger.
pub const USAGE_REFRESH_MS: i64 = 5_000;
/// Wallets whose usage is kept in memory; beyond it idle entries are forgotten (and re-seeded
/// from the ledger when they transfer again).
pub const USAGE_ENTRIES_MAX: usize = 100_000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One wallet's usage on one UTC day.
#[derive(Debug, Default)]
struct Usage {
    /// Committed that day (as of the last seed) plus succeeded since plus in flight.
    used_minor: i64,
    in_flight_minor: i64,
    /// Sum of every success since the entry was made; lets a refresh find what succeeded while
    /// it read the ledger.
    succeeded_minor: i64,
    /// When `used_minor` was last seeded from the ledger; `None` before the first seed.
    seeded_at_ms: Option<i64>,
    /// Seeds reading the ledger right now; the entry is never forgotten meanwhile.
    seeding: u32,
}

impl Usage {
    fn fresh(&self, now_ms: i64) -> bool {
        self.seeded_at_ms
            .is_some_and(|at| now_ms - at < USAGE_REFRESH_MS)
    }

    fn busy(&self) -> bool {
        self.in_flight_minor > 0 || self.seeding > 0
    }
}

/// (wallet id, UTC day number)
type UsageKey = (String, i64);
type UsageMap = Mutex<HashMap<UsageKey, Usage>>;

/// The limits and the daily usage of this process.
pub struct Limits {
    transfer_max: Option<Decimal>,
    daily_max: Option<Decimal>,
    usage: Arc<UsageMap>,
    ledger: Ledger,
}

/// An amount reserved against a wallet's daily limit. Dropping it keeps the amount counted (the
/// transfer succeeded or its outcome is unknown); [`Reservation::release`] gives it back after a
/// definite failure.
pub struct Reservation {
    usage: Option<(Arc<UsageMap>, UsageKey, i64)>,
}

impl Reservation {
    fn none() -> Reservation {
        Reservation { usage: None }
    }

    /// The transfer definitely did not happen.
    pub fn release(mut self) {
        if let Some((usage, key, amount)) = self.usage.take() {
            let mut map = usage.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&key) {
                entry.in_flight_minor -= amount;
                entry.used_minor -= amount;
                assert!(entry.in_flight_minor >= 0, "released more than reserved");
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((usage, key, amount)) = self.usage.take() {
            let mut map = usage.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&key) {
                entry.in_flight_minor -= amount;
                entry.succeeded_minor += amount;
                assert!(entry.in_flight_minor >= 0, "settled more than reserved");
            }
        }
    }
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
            usage: Arc::new(Mutex::new(HashMap::new())),
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

    /// Reserves `amount_minor` against the daily limit of `wallet_id` (see the module docs).
    pub async fn reserve_daily(
        &self,
        wallet_id: &str,
        amount: &Amount,
        now_ms: i64,
    ) -> Result<Reservation, TransferError> {
        let Some(max) = self.daily_max else {
            return Ok(Reservation::none());
        };
        let (amount_minor, currency) = (amount.minor(), amount.currency());
        let day = now_ms.div_euclid(DAY_MS);
        let key: UsageKey = (wallet_id.to_owned(), day);
        // Fast path: a fresh count in memory.
        let succeeded_before = {
            let mut map = self.usage.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= USAGE_ENTRIES_MAX && !map.contains_key(&key) {
                map.retain(|_, usage| usage.busy());
            }
            let entry = map.entry(key.clone()).or_default();
            if entry.fresh(now_ms) {
                return self.take(entry, key, amount_minor, max, currency);
            }
            entry.seeding += 1;
            entry.succeeded_minor
        };
        let sent = self
            .ledger
            .debited_since(wallet_id, TransferKind::P2p, day * DAY_MS)
            .await;
        let mut map = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .get_mut(&key)
            .expect("an entry being seeded is never forgotten");
        entry.seeding -= 1;
        let sent = sent.map_err(|err| TransferError::Storage(err.to_string()))?;
        let during = entry.succeeded_minor - succeeded_before;
        entry.used_minor = sent
            .checked_add(entry.in_flight_minor)
            .and_then(|n| n.checked_add(during))
            .ok_or(TransferError::DailyLimitExceeded)?;
        entry.seeded_at_ms = Some(now_ms);
        self.take(entry, key, amount_minor, max, currency)
    }

    fn take(
        &self,
        entry: &mut Usage,
        key: UsageKey,
        amount_minor: i64,
        max: Decimal,
        currency: &Currency,
    ) -> Result<Reservation, TransferError> {
        let after = entry
            .used_minor
            .checked_add(amount_minor)
            .ok_or(TransferError::DailyLimitExceeded)?;
        if to_decimal(after, currency) > max {
            return Err(TransferError::DailyLimitExceeded);
        }
        entry.used_minor = after;
        entry.in_flight_minor += amount_minor;
        Ok(Reservation {
            usage: Some((self.usage.clone(), key, amount_minor)),
        })
    }
}
