//! Risk rules for payments to merchants and charges of pay codes (config `[risk]`, env
//! `PURSE_RISK_*`): a per-transaction limit (`risk_amount_limit`), a daily limit per user and
//! currency (`risk_daily_limit`), a velocity limit per device per minute (`risk_velocity`) and a
//! cool-down for large amounts from newly registered devices (`risk_new_device`). Every rejection
//! is stored in `risk_rejections` for the operator (`GET /v1/admin/risk-rejections`).
//!
//! It never moves money and never blocks a P2P transfer (those have their own limits in
//! [`crate::transfers::limits`]). The velocity count is read from committed payment and charge
//! rows (index-only, at most the limit's number of entries); the daily sum is kept in memory
//! ([`crate::usage`]): [`Risk::check`] reserves the amount, seeded from the rows of the day and
//! refreshed every few seconds, so with several processes a user could pass it only by paying
//! through two of them within one refresh. The limits are risk controls, not balance invariants
//! (the ledger guards balances).

pub mod http;
pub mod store;

use purse_core::api::payments::RiskRejection;
use purse_core::money::{self, Amount, Currency};

use crate::config::RiskConfig;
use crate::db::Db;
use crate::ids::{self, IdKind};
use crate::usage::{DailyUsage, Refused};

/// An amount reserved against a user's daily limit by [`Risk::check`]: drop it when the money
/// moved or the outcome is unknown, [`crate::usage::Reservation::release`] it after a definite
/// failure.
pub type Reservation = crate::usage::Reservation<(String, String)>;

/// Most rejections one page of the operator list holds.
pub const REJECTIONS_PAGE_MAX: i64 = 100;
const MINUTE_MS: i64 = 60 * 1000;

/// Which rule refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RiskRule {
    AmountLimit,
    DailyLimit,
    Velocity,
    NewDevice,
}

impl RiskRule {
    pub fn code(self) -> &'static str {
        match self {
            RiskRule::AmountLimit => "risk_amount_limit",
            RiskRule::DailyLimit => "risk_daily_limit",
            RiskRule::Velocity => "risk_velocity",
            RiskRule::NewDevice => "risk_new_device",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            RiskRule::AmountLimit => "the amount is above the per-payment limit",
            RiskRule::DailyLimit => "the amount would pass today's payment limit",
            RiskRule::Velocity => "too many payments from this device in the last minute",
            RiskRule::NewDevice => "this device is too new for a payment this large",
        }
    }
}

/// What the rules look at.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    /// When the device was registered.
    pub device_created_at_ms: i64,
    pub merchant_id: &'a str,
    pub amount: Amount,
    pub now_ms: i64,
}

/// Why a check did not answer.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    #[error("{}", .0.describe())]
    Refused(RiskRule),
    #[error("risk storage: {0}")]
    Storage(#[from] sqlx::Error),
}

/// The risk rules; cheap to clone.
#[derive(Clone)]
pub struct Risk {
    config: RiskConfig,
    db: Db,
    /// What each (user, currency) paid merchants today, in memory.
    spent: DailyUsage<(String, String)>,
}

fn exceeds(minor: i64, currency: &Currency, max: rust_decimal::Decimal) -> bool {
    let value = rust_decimal::Decimal::new(minor, u32::from(currency.exponent));
    value > max
}

impl Risk {
    pub fn new(config: &RiskConfig, db: Db) -> Risk {
        Risk {
            config: config.clone(),
            db,
            spent: DailyUsage::default(),
        }
    }

    /// Checks every rule in order (cheapest first) and reserves the amount against the daily
    /// limit; a refusal is recorded, then returned.
    pub async fn check(&self, attempt: &Attempt<'_>) -> Result<Reservation, RiskError> {
        match self.first_refusal(attempt).await? {
            Ok(reservation) => Ok(reservation),
            Err(rule) => {
                let row = store::RejectionRow {
                    id: ids::new_id(IdKind::RiskRejection),
                    rule: rule.code().to_owned(),
                    user_id: attempt.user_id.to_owned(),
                    device_id: Some(attempt.device_id.to_owned()),
                    merchant_id: attempt.merchant_id.to_owned(),
                    amount_minor: attempt.amount.minor(),
                    currency: attempt.amount.currency().code.to_owned(),
                    created_at_ms: attempt.now_ms,
                };
                store::insert_rejection(&self.db, &row).await?;
                tracing::info!(
                    rule = rule.code(),
                    user_id = attempt.user_id,
                    device_id = attempt.device_id,
                    "payment refused by a risk rule"
                );
                Err(RiskError::Refused(rule))
            }
        }
    }

    /// The reservation when every rule passes, else the first rule that refused.
    async fn first_refusal(
        &self,
        attempt: &Attempt<'_>,
    ) -> Result<Result<Reservation, RiskRule>, RiskError> {
        let config = &self.config;
        let currency = attempt.amount.currency();
        let minor = attempt.amount.minor();
        if exceeds(minor, currency, config.transaction_max) {
            return Ok(Err(RiskRule::AmountLimit));
        }
        let cooldown_ms = i64::try_from(config.new_device_cooldown_s)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let is_new = attempt.now_ms < attempt.device_created_at_ms.saturating_add(cooldown_ms);
        if is_new && exceeds(minor, currency, config.new_device_amount_max) {
            return Ok(Err(RiskRule::NewDevice));
        }
        let velocity = i64::from(config.velocity_per_minute);
        let attempts = store::device_attempts(
            &self.db,
            attempt.device_id,
            attempt.now_ms - MINUTE_MS,
            velocity,
        )
        .await?;
        if attempts >= velocity {
            return Ok(Err(RiskRule::Velocity));
        }
        let key = (attempt.user_id.to_owned(), currency.code.to_owned());
        let reserved = self
            .spent
            .reserve(
                key,
                minor,
                attempt.now_ms,
                |after| !exceeds(after, currency, config.daily_max),
                |day_start_ms| {
                    store::spent_since(&self.db, attempt.user_id, currency.code, day_start_ms)
                },
            )
            .await;
        match reserved {
            Ok(reservation) => Ok(Ok(reservation)),
            Err(Refused::OverLimit) => Ok(Err(RiskRule::DailyLimit)),
            Err(Refused::Seed(err)) => Err(err.into()),
        }
    }

    /// A page of rejections, newest first, after the rejection `starting_after`.
    pub async fn rejections(
        &self,
        starting_after: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<RiskRejection>, bool), RiskError> {
        let before = match starting_after {
            None => None,
            Some(id) => match store::rejection(&self.db, id).await? {
                Some(row) => Some((row.created_at_ms, row.id)),
                None => return Ok((Vec::new(), false)),
            },
        };
        let mut rows = store::rejections(&self.db, before, limit + 1).await?;
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let data = rows
            .into_iter()
            .map(|row| {
                let amount = match Currency::from_code(&row.currency) {
                    Ok(currency) => money::format_minor(row.amount_minor, currency),
                    Err(_) => row.amount_minor.to_string(),
                };
                RiskRejection {
                    id: row.id,
                    rule: row.rule,
                    user_id: row.user_id,
                    device_id: row.device_id,
                    merchant_id: row.merchant_id,
                    amount,
                    currency: row.currency,
                    created_at_ms: row.created_at_ms,
                }
            })
            .collect();
        Ok((data, has_more))
    }
}
