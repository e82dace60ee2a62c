//! Payments to merchants, both QR flows, and refunds. It decides whether a payment may happen
//! (codes, keys, merchant, currencies, risk rules) and hands the money movement to
//! [`Ledger::transfer`]; it never writes a balance or a transfer row itself.
//!
//! - **Merchant-presented** (`POST /v1/payments`, device-signed): decode the scanned EMV payload,
//!   check it is a Purse code, verify its signature with the merchant's key, then move the money
//!   payer wallet → merchant wallet.
//! - **Consumer-presented** (`POST /v1/charges`, POS key): verify the pay code with the device's
//!   registered key, then move the money with the code's claim in the same transaction.
//! - **Refunds** (`POST /v1/refunds`): reserve, then move merchant wallet → payer wallet.
//!
//! **Invariant (single use):** a dynamic code's payment is posted under the ledger reference
//! `qr:<merchant id>:<code reference>` (a dynamic code's reference is unique per merchant), with
//! the payment id as memo. The ledger's `UNIQUE` reference refuses a second payment even across
//! processes (`qr_already_paid`); a retry of the same payment (same payer and Idempotency-Key,
//! hence the same payment id and memo) is answered with the original transfer.
//!
//! **Invariant (counter monotonic):** a pay code is accepted only if its counter is above the
//! device's last accepted counter; the counter is raised by a conditional upsert in the ledger
//! batch transaction that posts the charge's transfer and inserts its row
//! (`store::stage_charges_sqlite`, through [`Ledger::transfer_with`]), so two processes can never
//! both accept a code, and a refused charge (insufficient funds, a busy wallet) leaves the code
//! usable. The charge is posted under `paycode:<device id>:<counter>`.
//!
//! **Invariant (refund cap):** the sum of a payment's refunds never exceeds it: each refund first
//! reserves its amount with `UPDATE ... SET refunded_minor = refunded_minor + a WHERE
//! refunded_minor + a <= amount_minor` (plus a `CHECK` in the schema), in the transaction that
//! inserts the pending refund; then the money moves under `refund:<refund id>`; a definite
//! failure gives the reservation back. A crash between the two leaves a pending refund whose
//! amount stays reserved (never over-refunded); retrying with the same Idempotency-Key, or the
//! next start ([`Payments::recover_pending_refunds`]), posts the transfer under the same
//! reference and completes it.

pub mod http;
pub mod store;

use actix_web::http::StatusCode;
use purse_core::api::events::EventType;
use purse_core::api::payments::{
    Charge, CreateChargeRequest, CreatePaymentRequest, CreateRefundRequest, Payment, Refund,
};
use purse_core::keys::PublicKey;
use purse_core::merchant_code::{self, MerchantCodeError};
use purse_core::money::{self, Amount, Currency, MoneyError};
use purse_core::paycode::{self, PaycodeError};

use crate::db::Db;
use crate::error::ApiError;
use crate::events::{Events, NewEvent};
use crate::idempotency::{self, IdempotencyKey, RecordDraft};
use crate::identity::{Identity, IdentityError};
use crate::ids::{self, IdKind};
use crate::ledger::{
    AccountKind, Announce, Ledger, LedgerError, NewTransfer, Outbox, RecordOutbox, TransferKind,
    now_ms,
};
use crate::merchants::store::MerchantRow;
use crate::merchants::{MerchantCaller, MerchantError, Merchants, PosKey, currency_of};
use crate::risk::{Attempt, Risk, RiskError};
use store::{ChargeRow, PaymentRow, RefundRow, Reserve, Table};

/// Longest scanned EMV payload accepted (EMV allows 512 characters).
pub const PAYLOAD_CHARS_MAX: usize = 512;
/// Longest charge reference, in characters.
pub const CHARGE_REFERENCE_CHARS_MAX: usize = 64;
/// Longest refund reason, in characters.
pub const REASON_CHARS_MAX: usize = 280;
/// A pending refund older than this is taken as cut off by a crash and completed at start.
pub const REFUND_RECOVERY_AGE_MS: i64 = 60_000;
/// Pending refunds completed per start.
pub const REFUND_RECOVERY_BATCH_MAX: i64 = 1000;
/// Devices added to the pay code key id index per lookup miss.
const KEY_ID_BACKFILL_MAX: i64 = 1000;

/// Why a payment, charge or refund is refused. One conversion ([`From<PaymentError> for
/// ApiError`]) decides the status of each.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("the payload is not a valid EMV QR code: {0}")]
    QrInvalid(String),
    #[error("this is a valid EMV code, but not a Purse merchant code")]
    QrNotPurse,
    #[error("the code's signature does not verify with the merchant's key")]
    QrSignatureInvalid,
    #[error("the code has expired")]
    QrExpired,
    #[error("this code was paid already")]
    QrAlreadyPaid,
    #[error("the merchant is not active")]
    MerchantInactive,
    #[error("the key that signed this code was revoked")]
    MerchantKeyRevoked,
    #[error("the currencies of the code, the wallet and the merchant must match")]
    CurrencyMismatch,
    #[error("a static code carries no amount: send `amount`")]
    AmountRequired,
    #[error("a dynamic code carries its own amount; `amount` must be absent or equal")]
    AmountMismatch,
    #[error("currency must be an ISO 4217 code such as USD")]
    CurrencyUnknown,
    #[error(transparent)]
    Amount(MoneyError),
    #[error("reference must be 1 to 64 characters without control characters")]
    ReferenceInvalid,
    #[error("reason must be at most 280 characters without control characters")]
    ReasonInvalid,
    #[error("the wallet's balance is too low")]
    InsufficientFunds,
    #[error("not a valid pay code: {0}")]
    PaycodeMalformed(String),
    #[error("the pay code does not verify (unknown device, altered or forged)")]
    PaycodeInvalid,
    #[error("this pay code was used already")]
    PaycodeReplayed,
    #[error("the pay code is outside its validity window")]
    PaycodeExpired,
    #[error("the charge is above the pay code's cap")]
    PaycodeOverLimit,
    #[error("the device that made this pay code was revoked")]
    DeviceRevoked,
    #[error("the refund would take the refunded total above the payment")]
    RefundExceeds,
    #[error("`payment` must be a payment (pay_...) or charge (chg_...) id")]
    PaymentIdInvalid,
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error(transparent)]
    Risk(RiskError),
    #[error(transparent)]
    Merchant(MerchantError),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Identity(IdentityError),
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<sqlx::Error> for PaymentError {
    fn from(err: sqlx::Error) -> PaymentError {
        PaymentError::Storage(err.to_string())
    }
}

impl From<MerchantError> for PaymentError {
    fn from(err: MerchantError) -> PaymentError {
        match err {
            MerchantError::NotFound => PaymentError::NotFound("merchant"),
            MerchantError::Inactive => PaymentError::MerchantInactive,
            other => PaymentError::Merchant(other),
        }
    }
}

impl From<RiskError> for PaymentError {
    fn from(err: RiskError) -> PaymentError {
        PaymentError::Risk(err)
    }
}

impl From<LedgerError> for PaymentError {
    fn from(err: LedgerError) -> PaymentError {
        match err {
            LedgerError::InsufficientFunds => PaymentError::InsufficientFunds,
            LedgerError::CurrencyMismatch => PaymentError::CurrencyMismatch,
            LedgerError::PaycodeReplayed => PaymentError::PaycodeReplayed,
            other => PaymentError::Ledger(other),
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> ApiError {
        let detail = err.to_string();
        let bad = |code| ApiError::bad_request(code, detail.clone());
        let unprocessable = |code| ApiError::unprocessable(code, detail.clone());
        match err {
            PaymentError::QrInvalid(_) => bad("qr_invalid"),
            PaymentError::QrNotPurse => unprocessable("qr_not_purse"),
            PaymentError::QrSignatureInvalid => unprocessable("qr_signature_invalid"),
            PaymentError::QrExpired => unprocessable("qr_expired"),
            PaymentError::QrAlreadyPaid => ApiError::conflict("qr_already_paid", detail),
            PaymentError::MerchantInactive => unprocessable("merchant_inactive"),
            PaymentError::MerchantKeyRevoked => unprocessable("merchant_key_revoked"),
            PaymentError::CurrencyMismatch => unprocessable("currency_mismatch"),
            PaymentError::AmountRequired => bad("amount_required"),
            PaymentError::AmountMismatch => unprocessable("amount_mismatch"),
            PaymentError::CurrencyUnknown => bad("currency_unknown"),
            PaymentError::Amount(err) => bad(err.code()),
            PaymentError::ReferenceInvalid => bad("reference_invalid"),
            PaymentError::ReasonInvalid => bad("reason_invalid"),
            PaymentError::PaymentIdInvalid => bad("payment_invalid"),
            PaymentError::InsufficientFunds => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_funds",
                "Insufficient funds",
            )
            .detail(detail),
            PaymentError::PaycodeMalformed(_) => bad("paycode_invalid"),
            PaymentError::PaycodeInvalid => unprocessable("paycode_invalid"),
            PaymentError::PaycodeReplayed => ApiError::conflict("paycode_replayed", detail),
            PaymentError::PaycodeExpired => unprocessable("paycode_expired"),
            PaymentError::PaycodeOverLimit => unprocessable("paycode_over_limit"),
            PaymentError::DeviceRevoked => {
                ApiError::new(StatusCode::FORBIDDEN, "device_revoked", "Forbidden").detail(detail)
            }
            PaymentError::RefundExceeds => unprocessable("refund_exceeds_payment"),
            PaymentError::NotFound(what) => ApiError::not_found(what),
            PaymentError::Risk(err) => err.into(),
            PaymentError::Merchant(err) => err.into(),
            PaymentError::Ledger(err) => err.into(),
            PaymentError::Identity(err) => err.into(),
            PaymentError::Storage(message) => {
                ApiError::internal(format_args!("payments: {message}"))
            }
        }
    }
}

/// A `CreatePaymentRequest` whose shape is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayRequest {
    payload: String,
    wallet: String,
    amount: Option<String>,
}

impl PayRequest {
    pub fn validate(request: &CreatePaymentRequest) -> Result<PayRequest, PaymentError> {
        if request.payload.is_empty() || request.payload.chars().count() > PAYLOAD_CHARS_MAX {
            return Err(PaymentError::QrInvalid(
                "the payload must be 1 to 512 characters".to_owned(),
            ));
        }
        Ok(PayRequest {
            payload: request.payload.clone(),
            wallet: request.wallet.clone(),
            amount: request.amount.clone(),
        })
    }
}

/// A `CreateChargeRequest` whose shape is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRequest {
    paycode: String,
    amount: Amount,
    reference: Option<String>,
}

impl ChargeRequest {
    pub fn validate(request: &CreateChargeRequest) -> Result<ChargeRequest, PaymentError> {
        let currency =
            Currency::from_code(&request.currency).map_err(|_| PaymentError::CurrencyUnknown)?;
        let amount = Amount::parse(&request.amount, currency).map_err(PaymentError::Amount)?;
        if let Some(reference) = &request.reference {
            let chars = reference.chars().count();
            if chars == 0
                || chars > CHARGE_REFERENCE_CHARS_MAX
                || reference.chars().any(char::is_control)
            {
                return Err(PaymentError::ReferenceInvalid);
            }
        }
        if request.paycode.len() > paycode::TEXT_CHARS_MAX {
            return Err(PaymentError::PaycodeMalformed("too long".to_owned()));
        }
        Ok(ChargeRequest {
            paycode: request.paycode.clone(),
            amount,
            reference: request.reference.clone(),
        })
    }
}

/// A `CreateRefundRequest` whose shape is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    payment: String,
    table: Table,
    amount: Option<String>,
    reason: Option<String>,
}

impl RefundRequest {
    pub fn validate(request: &CreateRefundRequest) -> Result<RefundRequest, PaymentError> {
        let table = if ids::is_valid(IdKind::Payment, &request.payment) {
            Table::Payments
        } else if ids::is_valid(IdKind::Charge, &request.payment) {
            Table::Charges
        } else {
            return Err(PaymentError::PaymentIdInvalid);
        };
        if let Some(reason) = &request.reason {
            if reason.chars().count() > REASON_CHARS_MAX || reason.chars().any(char::is_control) {
                return Err(PaymentError::ReasonInvalid);
            }
        }
        Ok(RefundRequest {
            payment: request.payment.clone(),
            table,
            amount: request.amount.clone(),
            reason: request.reason.clone().filter(|r| !r.is_empty()),
        })
    }
}

fn stored_currency(code: &str) -> Result<&'static Currency, PaymentError> {
    Currency::from_code(code)
        .map_err(|_| PaymentError::Storage(format!("a stored currency {code} is unknown")))
}

fn payment_view(row: &PaymentRow, merchant_name: &str) -> Result<Payment, PaymentError> {
    let currency = stored_currency(&row.currency)?;
    Ok(Payment {
        id: row.id.clone(),
        merchant_id: row.merchant_id.clone(),
        merchant_name: merchant_name.to_owned(),
        wallet: row.payer_wallet.clone(),
        amount: money::format_minor(row.amount_minor, currency),
        currency: row.currency.clone(),
        reference: row.reference.clone(),
        status: row.status.clone(),
        refunded_amount: money::format_minor(row.refunded_minor, currency),
        transfer_id: row.transfer_id.clone().unwrap_or_default(),
        created_at_ms: row.created_at_ms,
    })
}

/// `row` as it is once paid by the transfer `transfer_id` (the charge row the ledger batch stores).
fn succeeded(mut row: ChargeRow, transfer_id: &str) -> ChargeRow {
    row.status = "succeeded".to_owned();
    row.transfer_id = Some(transfer_id.to_owned());
    row
}

fn charge_view(row: &ChargeRow) -> Result<Charge, PaymentError> {
    let currency = stored_currency(&row.currency)?;
    Ok(Charge {
        id: row.id.clone(),
        merchant_id: row.merchant_id.clone(),
        amount: money::format_minor(row.amount_minor, currency),
        currency: row.currency.clone(),
        reference: row.reference.clone(),
        device_id: row.device_id.clone(),
        status: row.status.clone(),
        refunded_amount: money::format_minor(row.refunded_minor, currency),
        transfer_id: row.transfer_id.clone().unwrap_or_default(),
        created_at_ms: row.created_at_ms,
    })
}

fn refund_view(row: &RefundRow) -> Result<Refund, PaymentError> {
    let currency = stored_currency(&row.currency)?;
    Ok(Refund {
        id: row.id.clone(),
        payment: row.payment_id.clone(),
        amount: money::format_minor(row.amount_minor, currency),
        currency: row.currency.clone(),
        reason: row.reason.clone(),
        status: row.status.clone(),
        transfer_id: row.transfer_id.clone().unwrap_or_default(),
        created_at_ms: row.created_at_ms,
    })
}

/// Ledger errors after which no money moved and none will under this reference.
fn is_definite(err: &LedgerError) -> bool {
    matches!(
        err,
        LedgerError::InsufficientFunds
            | LedgerError::AccountNotFound(_)
            | LedgerError::CurrencyMismatch
            | LedgerError::DuplicateReference(_)
            | LedgerError::AmountInvalid
            | LedgerError::SameAccount
            | LedgerError::ReferenceInvalid
            | LedgerError::MemoTooLong
            | LedgerError::CurrencyInvalid
            | LedgerError::AnsweredElsewhere
    )
}

/// The transfer that pays a charge: its reference names the pay code (device and counter), so
/// one code can never move money twice, and its memo the charge row.
fn charge_transfer(row: &ChargeRow, merchant: &MerchantRow) -> NewTransfer {
    NewTransfer {
        reference: format!("paycode:{}:{}", row.device_id, row.counter),
        kind: TransferKind::Payment,
        debit_account: row.payer_wallet.clone(),
        credit_account: merchant.wallet_id.clone(),
        currency: row.currency.clone(),
        amount_minor: row.amount_minor,
        memo: Some(row.id.clone()),
    }
}

/// A payment or charge as a refund sees it.
struct Payable {
    table: Table,
    id: String,
    merchant_id: String,
    payer_id: String,
    payer_wallet: String,
    amount_minor: i64,
    refunded_minor: i64,
    currency: String,
}

/// The payments service shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    /// Where this area's rows are written. The shared pool: measured, routing these one-row
    /// transactions through the write gate ([`Ledger::write_gate`]) made charges slower
    /// (docs/benchmarks.md, 2026-12-02).
    writer: Db,
    ledger: Ledger,
    identity: std::sync::Arc<Identity>,
    merchants: Merchants,
    risk: Risk,
    events: Events,
}

impl Payments {
    pub fn new(
        db: Db,
        ledger: Ledger,
        identity: std::sync::Arc<Identity>,
        merchants: Merchants,
        risk: Risk,
        events: Events,
    ) -> Payments {
        Payments {
            writer: db.clone(),
            db,
            ledger,
            identity,
            merchants,
            risk,
            events,
        }
    }

    /// Publishes `event` to the payer and to the merchant; a failure is logged, never returned
    /// (the money moved already).
    async fn publish(
        &self,
        payer_id: &str,
        merchant_id: &str,
        type_: EventType,
        dedupe_key: String,
        data: serde_json::Value,
    ) {
        // Both in the same group commit, rather than one after the other.
        let publishes = [payer_id, merchant_id].map(|owner_id| {
            let event = NewEvent {
                owner_id: owner_id.to_owned(),
                type_,
                dedupe_key: dedupe_key.clone(),
                data: data.clone(),
            };
            async move { (owner_id, self.events.publish(event).await) }
        });
        for (owner_id, published) in futures_util::future::join_all(publishes).await {
            if let Err(err) = published {
                tracing::warn!(error = %err, owner_id, dedupe_key, "event not published");
            }
        }
    }

    /// Pays the merchant code in `request` from `user_id`'s wallet, signed by `device_id`.
    pub async fn pay(
        &self,
        user_id: &str,
        device_id: &str,
        key: &IdempotencyKey,
        request: PayRequest,
    ) -> Result<Payment, PaymentError> {
        let now = now_ms();
        let unverified = merchant_code::decode(&request.payload).map_err(|err| match err {
            MerchantCodeError::NotPurseCode => PaymentError::QrNotPurse,
            MerchantCodeError::Unsigned => PaymentError::QrSignatureInvalid,
            other => PaymentError::QrInvalid(other.to_string()),
        })?;
        let key_row = self
            .merchants
            .key(&unverified.key_id().to_string())
            .await?
            .filter(|k| k.merchant_id == unverified.merchant_id())
            .ok_or(PaymentError::QrSignatureInvalid)?;
        let public_key = PublicKey::from_bytes(&key_row.public_key).map_err(|_| {
            PaymentError::Storage("a stored merchant key does not parse".to_owned())
        })?;
        let code = unverified
            .verify(&public_key, (now / 1000) as u64)
            .map_err(|err| match err {
                MerchantCodeError::Expired { .. } => PaymentError::QrExpired,
                MerchantCodeError::WrongKey { .. } | MerchantCodeError::BadSignature => {
                    PaymentError::QrSignatureInvalid
                }
                other => PaymentError::QrInvalid(other.to_string()),
            })?;
        if key_row.revoked_at_ms.is_some() {
            return Err(PaymentError::MerchantKeyRevoked);
        }
        let merchant = self
            .merchants
            .row(code.merchant_id())
            .await?
            .ok_or(PaymentError::QrSignatureInvalid)?;
        if merchant.status != "active" {
            return Err(PaymentError::MerchantInactive);
        }
        let currency = code.currency();
        if currency_of(&merchant)?.code != currency.code {
            return Err(PaymentError::CurrencyMismatch);
        }
        let amount = match (code.amount(), &request.amount) {
            (Some(amount), None) => amount,
            (Some(amount), Some(text)) => {
                let asked = Amount::parse(text, currency).map_err(PaymentError::Amount)?;
                if asked != amount {
                    return Err(PaymentError::AmountMismatch);
                }
                amount
            }
            (None, Some(text)) => Amount::parse(text, currency).map_err(PaymentError::Amount)?,
            (None, None) => return Err(PaymentError::AmountRequired),
        };
        let wallet = self
            .ledger
            .account(&request.wallet)
            .await?
            .filter(|a| a.kind == AccountKind::Wallet && a.owner_id.as_deref() == Some(user_id))
            .ok_or(PaymentError::NotFound("wallet"))?;
        if wallet.currency != currency.code {
            return Err(PaymentError::CurrencyMismatch);
        }
        let device = self
            .identity
            .device(user_id, device_id)
            .await
            .map_err(PaymentError::Identity)?;
        let dynamic_reference = code
            .is_dynamic()
            .then(|| code.reference().map(str::to_owned))
            .flatten();
        let pending = PaymentRow {
            id: ids::new_id(IdKind::Payment),
            merchant_id: merchant.id.clone(),
            payer_id: user_id.to_owned(),
            payer_wallet: wallet.id.clone(),
            device_id: device_id.to_owned(),
            idempotency_key: key.as_str().to_owned(),
            amount_minor: amount.minor(),
            currency: currency.code.to_owned(),
            reference: code.reference().map(str::to_owned),
            status: "pending".to_owned(),
            refunded_minor: 0,
            transfer_id: None,
            created_at_ms: now,
        };
        // A retry of a payment whose answer was lost: same key, same payment.
        let existing = store::payment_by_key(&self.db, user_id, key.as_str()).await?;
        if let Some(row) = &existing {
            if row.status == "succeeded" {
                return payment_view(row, &merchant.name);
            }
        }
        // Held until the money moved (kept) or definitely did not (given back).
        let mut reservation = None;
        if existing.is_none() {
            let reserved = self
                .risk
                .check(&Attempt {
                    user_id,
                    device_id,
                    device_created_at_ms: device.created_at_ms,
                    merchant_id: &merchant.id,
                    amount,
                    now_ms: now,
                })
                .await?;
            reservation = Some(reserved);
        }
        let row = store::insert_payment_or_get(&self.writer, &pending).await?;
        let ledger_reference = match &dynamic_reference {
            Some(reference) => format!("qr:{}:{reference}", merchant.id),
            None => format!("pay:{}", row.id),
        };
        let posted = self
            .ledger
            .transfer(NewTransfer {
                reference: ledger_reference,
                kind: TransferKind::Payment,
                debit_account: row.payer_wallet.clone(),
                credit_account: merchant.wallet_id.clone(),
                currency: row.currency.clone(),
                amount_minor: row.amount_minor,
                memo: Some(row.id.clone()),
            })
            .await;
        let posted = match posted {
            Ok(posted) => posted,
            Err(err) => {
                if is_definite(&err) {
                    if let Some(reservation) = reservation {
                        reservation.release();
                    }
                    store::settle(&self.writer, Table::Payments, &row.id, "failed", None).await?;
                }
                return Err(match err {
                    LedgerError::DuplicateReference(_) if dynamic_reference.is_some() => {
                        PaymentError::QrAlreadyPaid
                    }
                    other => other.into(),
                });
            }
        };
        store::settle(
            &self.db,
            Table::Payments,
            &row.id,
            "succeeded",
            Some(&posted.transfer.id),
        )
        .await?;
        let mut done = row;
        done.status = "succeeded".to_owned();
        done.transfer_id = Some(posted.transfer.id);
        let payment = payment_view(&done, &merchant.name)?;
        tracing::info!(payment_id = %payment.id, merchant_id = %merchant.id, "payment succeeded");
        self.publish(
            user_id,
            &merchant.id,
            EventType::PaymentSucceeded,
            format!("payment:{}", payment.id),
            serde_json::to_value(&payment).unwrap_or_default(),
        )
        .await;
        Ok(payment)
    }

    /// A payment for its payer, its merchant's owner or its merchant's POS keys.
    pub async fn get_payment(
        &self,
        caller: &MerchantCaller,
        id: &str,
    ) -> Result<Payment, PaymentError> {
        if !ids::is_valid(IdKind::Payment, id) {
            return Err(PaymentError::NotFound("payment"));
        }
        let row = store::payment(&self.db, id)
            .await?
            .filter(|row| row.status == "succeeded")
            .ok_or(PaymentError::NotFound("payment"))?;
        let merchant = self
            .merchants
            .row(&row.merchant_id)
            .await?
            .ok_or(PaymentError::NotFound("payment"))?;
        let allowed = match caller {
            MerchantCaller::User(user) => {
                user.user_id == row.payer_id || user.user_id == merchant.owner_id
            }
            MerchantCaller::Pos(pos) => pos.merchant_id == merchant.id,
        };
        if !allowed {
            return Err(PaymentError::NotFound("payment"));
        }
        payment_view(&row, &merchant.name)
    }

    /// The device whose key id is `key_id`, filling the key id index on a miss.
    async fn device_of_key(
        &self,
        key_id: &str,
    ) -> Result<Option<crate::identity::store::DeviceRow>, PaymentError> {
        // Revocation within the cache's bound: see `identity::device_keys`.
        let recent = self.identity.key_id_devices();
        if let Some(device) = recent.get(key_id) {
            return Ok(Some(device));
        }
        let read = recent.begin_read();
        let mut found = store::device_of_key_id(&self.db, key_id).await?;
        if found.is_none() {
            for device in store::devices_without_key_id(&self.db, KEY_ID_BACKFILL_MAX).await? {
                if let Ok(key) = PublicKey::from_bytes(&device.public_key) {
                    store::insert_device_key_id(
                        &self.writer,
                        &key.key_id().to_string(),
                        &device.id,
                    )
                    .await?;
                }
            }
            found = store::device_of_key_id(&self.db, key_id).await?;
        }
        if let Some(device) = found.as_ref().filter(|d| d.revoked_at_ms.is_none()) {
            recent.put(key_id, device.clone(), read);
        }
        Ok(found)
    }

    /// Charges the pay code in `request` for the POS key's merchant. `record` is the request's
    /// idempotency record draft: the answer's record (201 and the charge) commits in the ledger
    /// batch with the charge's money, and the second value says whether it did
    /// ([`crate::idempotency::Answer::recorded`]; `None` when it was not committed there).
    pub async fn charge(
        &self,
        pos: &PosKey,
        key: &IdempotencyKey,
        request: ChargeRequest,
        record: RecordDraft,
    ) -> Result<(Charge, Option<bool>), PaymentError> {
        match self.charge_once(&pos.merchant, key, request, record).await {
            Ok(charged) => Ok(charged),
            // A retry whose recorded answer was lost (a crash on SQLite): the charge this key
            // made, even when its code has expired or was replayed since.
            Err(err) => {
                match store::charge_by_key(&self.db, &pos.merchant.id, key.as_str()).await {
                    Ok(Some(existing)) => {
                        Ok((self.finish_charge(&pos.merchant, existing).await?, None))
                    }
                    _ => Err(err),
                }
            }
        }
    }

    /// A charge not made before under `key`: verify, check, then move the money.
    async fn charge_once(
        &self,
        merchant: &MerchantRow,
        key: &IdempotencyKey,
        request: ChargeRequest,
        record: RecordDraft,
    ) -> Result<(Charge, Option<bool>), PaymentError> {
        let now = now_ms();
        let unverified = paycode::decode(&request.paycode)
            .map_err(|err| PaymentError::PaycodeMalformed(err.to_string()))?;
        let device = self
            .device_of_key(&unverified.key_id().to_string())
            .await?
            .ok_or(PaymentError::PaycodeInvalid)?;
        let device_key = PublicKey::from_bytes(&device.public_key)
            .map_err(|_| PaymentError::Storage("a stored device key does not parse".to_owned()))?;
        let code = unverified
            .verify(
                &device_key,
                None,
                (now / 1000) as u64,
                Some(&request.amount),
            )
            .map_err(|err| match err {
                PaycodeError::Expired { .. } | PaycodeError::NotYetValid { .. } => {
                    PaymentError::PaycodeExpired
                }
                PaycodeError::OverLimit { .. } => PaymentError::PaycodeOverLimit,
                PaycodeError::CurrencyMismatch { .. } => PaymentError::CurrencyMismatch,
                PaycodeError::Replayed { .. } => PaymentError::PaycodeReplayed,
                PaycodeError::Invalid { .. } => PaymentError::PaycodeMalformed(err.to_string()),
                _ => PaymentError::PaycodeInvalid,
            })?;
        if device.revoked_at_ms.is_some() {
            return Err(PaymentError::DeviceRevoked);
        }
        if merchant.status != "active" {
            return Err(PaymentError::MerchantInactive);
        }
        let currency = request.amount.currency();
        if currency_of(merchant)?.code != currency.code {
            return Err(PaymentError::CurrencyMismatch);
        }
        let wallet = self
            .ledger
            .wallet_id_of(&device.user_id, currency.code)
            .await?
            .ok_or(PaymentError::InsufficientFunds)?;
        let reservation = self
            .risk
            .check(&Attempt {
                user_id: &device.user_id,
                device_id: &device.id,
                device_created_at_ms: device.created_at_ms,
                merchant_id: &merchant.id,
                amount: request.amount,
                now_ms: now,
            })
            .await?;
        let row = ChargeRow {
            id: ids::new_sortable_id(IdKind::Charge),
            merchant_id: merchant.id.clone(),
            payer_id: device.user_id.clone(),
            payer_wallet: wallet,
            device_id: device.id.clone(),
            counter: i64::from(code.counter()),
            idempotency_key: key.as_str().to_owned(),
            amount_minor: request.amount.minor(),
            currency: currency.code.to_owned(),
            reference: request.reference,
            status: "pending".to_owned(),
            refunded_minor: 0,
            transfer_id: None,
            created_at_ms: now,
        };
        // The pay code claim, the charge row and both events commit in the transfer's own
        // transaction (the ledger's outbox): one durable commit per ledger batch, not three per
        // charge, and no charge row without its money or money without its row.
        let announce = [row.payer_id.clone(), merchant.id.clone()].map(|owner_id| {
            let draft = row.clone();
            Announce {
                owner_id,
                type_: EventType::PaymentSucceeded,
                dedupe_key: Some(format!("charge:{}", row.id)),
                render: Box::new(move |transfer: &crate::ledger::Transfer| {
                    let charge = charge_view(&succeeded(draft, &transfer.id))
                        .map_err(|err| err.to_string())?;
                    serde_json::to_value(charge).map_err(|err| err.to_string())
                }),
            }
        });
        // The answer's record too: what `finish` below answers, from the transfer as committed.
        let answered = row.clone();
        let outbox = Outbox {
            announce: announce.into(),
            charge: Some(row.clone()),
            nonce: None,
            record: Some(RecordOutbox {
                draft: record,
                render: Box::new(move |transfer: &crate::ledger::Transfer| {
                    let charge = charge_view(&succeeded(answered, &transfer.id))
                        .map_err(|err| err.to_string())?;
                    Ok((StatusCode::CREATED, idempotency::answer_body(&charge)))
                }),
            }),
        };
        match self
            .ledger
            .transfer_with(charge_transfer(&row, merchant), outbox)
            .await
        {
            Ok(posted) => {
                self.events.notify(&row.payer_id);
                self.events.notify(&merchant.id);
                let done = succeeded(row, &posted.transfer.id);
                tracing::info!(charge_id = %done.id, merchant_id = %merchant.id, "charge succeeded");
                Ok((charge_view(&done)?, posted.record_written))
            }
            // Another charge claimed the code first (or this key's charge in another process:
            // [`Payments::charge`] answers that one).
            Err(LedgerError::PaycodeReplayed | LedgerError::DuplicateReference(_)) => {
                reservation.release();
                Err(PaymentError::PaycodeReplayed)
            }
            // Nothing was stored: the code stays usable (the answer is recorded under the
            // Idempotency-Key like any other). An outcome that is not definite keeps the amount
            // counted against the daily limit.
            Err(err) => {
                if is_definite(&err) {
                    reservation.release();
                }
                Err(err.into())
            }
        }
    }

    /// Moves the money of a claimed charge (again, idempotently, for a retried one).
    async fn finish_charge(
        &self,
        merchant: &MerchantRow,
        row: ChargeRow,
    ) -> Result<Charge, PaymentError> {
        match row.status.as_str() {
            "succeeded" => return charge_view(&row),
            "failed" => return Err(PaymentError::InsufficientFunds),
            _ => {}
        }
        let posted = self.ledger.transfer(charge_transfer(&row, merchant)).await;
        let posted = match posted {
            Ok(posted) => posted,
            Err(err) => {
                if is_definite(&err) {
                    store::settle(&self.writer, Table::Charges, &row.id, "failed", None).await?;
                }
                return Err(match err {
                    LedgerError::DuplicateReference(_) => PaymentError::PaycodeReplayed,
                    other => other.into(),
                });
            }
        };
        store::settle(
            &self.db,
            Table::Charges,
            &row.id,
            "succeeded",
            Some(&posted.transfer.id),
        )
        .await?;
        let mut done = row;
        done.status = "succeeded".to_owned();
        done.transfer_id = Some(posted.transfer.id);
        let charge = charge_view(&done)?;
        tracing::info!(charge_id = %charge.id, merchant_id = %merchant.id, "charge succeeded");
        self.publish(
            &done.payer_id,
            &merchant.id,
            EventType::PaymentSucceeded,
            format!("charge:{}", charge.id),
            serde_json::to_value(&charge).unwrap_or_default(),
        )
        .await;
        Ok(charge)
    }

    /// A charge for its merchant's owner or POS keys.
    pub async fn get_charge(
        &self,
        caller: &MerchantCaller,
        id: &str,
    ) -> Result<Charge, PaymentError> {
        if !ids::is_valid(IdKind::Charge, id) {
            return Err(PaymentError::NotFound("charge"));
        }
        let row = store::charge(&self.db, id)
            .await?
            .filter(|row| row.status == "succeeded")
            .ok_or(PaymentError::NotFound("charge"))?;
        self.merchants
            .authorized(caller, &row.merchant_id)
            .await
            .map_err(|_| PaymentError::NotFound("charge"))?;
        charge_view(&row)
    }

    async fn payable(&self, table: Table, id: &str) -> Result<Option<Payable>, PaymentError> {
        Ok(match table {
            Table::Payments => store::payment(&self.db, id)
                .await?
                .filter(|r| r.status == "succeeded")
                .map(|r| Payable {
                    table,
                    id: r.id,
                    merchant_id: r.merchant_id,
                    payer_id: r.payer_id,
                    payer_wallet: r.payer_wallet,
                    amount_minor: r.amount_minor,
                    refunded_minor: r.refunded_minor,
                    currency: r.currency,
                }),
            Table::Charges => store::charge(&self.db, id)
                .await?
                .filter(|r| r.status == "succeeded")
                .map(|r| Payable {
                    table,
                    id: r.id,
                    merchant_id: r.merchant_id,
                    payer_id: r.payer_id,
                    payer_wallet: r.payer_wallet,
                    amount_minor: r.amount_minor,
                    refunded_minor: r.refunded_minor,
                    currency: r.currency,
                }),
        })
    }

    /// Refunds (part of) a payment or charge of a merchant `caller` may act for.
    pub async fn refund(
        &self,
        caller: &MerchantCaller,
        key: &IdempotencyKey,
        request: RefundRequest,
    ) -> Result<Refund, PaymentError> {
        let payable = self
            .payable(request.table, &request.payment)
            .await?
            .ok_or(PaymentError::NotFound("payment"))?;
        let merchant = self
            .merchants
            .authorized(caller, &payable.merchant_id)
            .await
            .map_err(|_| PaymentError::NotFound("payment"))?;
        // Keys are scoped per caller (a user or a POS key), stored per merchant.
        let scoped_key = format!("{}:{}", caller.idempotency_owner(), key.as_str());
        if let Some(existing) = store::refund_by_key(&self.db, &merchant.id, &scoped_key).await? {
            return self.finish_refund(&merchant, &payable, existing).await;
        }
        let currency = stored_currency(&payable.currency)?;
        let amount_minor = match &request.amount {
            Some(text) => Amount::parse(text, currency)
                .map_err(PaymentError::Amount)?
                .minor(),
            None => payable.amount_minor - payable.refunded_minor,
        };
        if amount_minor <= 0 {
            return Err(PaymentError::RefundExceeds);
        }
        let row = RefundRow {
            id: ids::new_id(IdKind::Refund),
            payment_id: payable.id.clone(),
            merchant_id: merchant.id.clone(),
            idempotency_key: scoped_key,
            amount_minor,
            currency: payable.currency.clone(),
            reason: request.reason,
            status: "pending".to_owned(),
            transfer_id: None,
            created_at_ms: now_ms(),
        };
        match store::reserve_refund(&self.writer, payable.table, &row).await? {
            Reserve::Reserved => {}
            Reserve::Exceeds => return Err(PaymentError::RefundExceeds),
        }
        self.finish_refund(&merchant, &payable, row).await
    }

    async fn finish_refund(
        &self,
        merchant: &MerchantRow,
        payable: &Payable,
        row: RefundRow,
    ) -> Result<Refund, PaymentError> {
        match row.status.as_str() {
            "succeeded" => return refund_view(&row),
            "failed" => return Err(PaymentError::InsufficientFunds),
            _ => {}
        }
        let posted = self
            .ledger
            .transfer(NewTransfer {
                reference: format!("refund:{}", row.id),
                kind: TransferKind::Refund,
                debit_account: merchant.wallet_id.clone(),
                credit_account: payable.payer_wallet.clone(),
                currency: row.currency.clone(),
                amount_minor: row.amount_minor,
                memo: Some(payable.id.clone()),
            })
            .await;
        let posted = match posted {
            Ok(posted) => posted,
            Err(err) => {
                if is_definite(&err) {
                    store::release_refund(&self.writer, payable.table, &row).await?;
                }
                return Err(err.into());
            }
        };
        store::refund_succeeded(&self.writer, &row.id, &posted.transfer.id).await?;
        let mut done = row;
        done.status = "succeeded".to_owned();
        done.transfer_id = Some(posted.transfer.id);
        let refund = refund_view(&done)?;
        tracing::info!(refund_id = %refund.id, payment = %payable.id, "refund succeeded");
        self.publish(
            &payable.payer_id,
            &merchant.id,
            EventType::PaymentRefunded,
            format!("refund:{}", refund.id),
            serde_json::to_value(&refund).unwrap_or_default(),
        )
        .await;
        Ok(refund)
    }

    /// Marks payments and charges `succeeded` whose money moved but whose row a crash left
    /// pending (the ledger holds their transfer under its reference, with the row's id as memo),
    /// and publishes their events. Rows without a transfer stay pending: a retry with the same
    /// Idempotency-Key still completes them. Run once at start. Answers how many it settled.
    pub async fn recover_pending_payments(&self) -> Result<usize, PaymentError> {
        let cutoff = now_ms() - REFUND_RECOVERY_AGE_MS;
        let mut settled = 0;
        for row in
            store::stale_pending_payments(&self.db, cutoff, REFUND_RECOVERY_BATCH_MAX).await?
        {
            let Some(merchant) = self.merchants.row(&row.merchant_id).await? else {
                continue;
            };
            let references = [
                format!("pay:{}", row.id),
                format!(
                    "qr:{}:{}",
                    row.merchant_id,
                    row.reference.clone().unwrap_or_default()
                ),
            ];
            for reference in references {
                let found =
                    crate::ledger::store::transfer_by_reference(&self.db, &reference).await?;
                let Some(transfer) = found.filter(|t| t.memo.as_deref() == Some(row.id.as_str()))
                else {
                    continue;
                };
                store::settle(
                    &self.db,
                    Table::Payments,
                    &row.id,
                    "succeeded",
                    Some(&transfer.id),
                )
                .await?;
                let mut done = row.clone();
                done.status = "succeeded".to_owned();
                done.transfer_id = Some(transfer.id);
                let payment = payment_view(&done, &merchant.name)?;
                self.publish(
                    &done.payer_id,
                    &merchant.id,
                    EventType::PaymentSucceeded,
                    format!("payment:{}", payment.id),
                    serde_json::to_value(&payment).unwrap_or_default(),
                )
                .await;
                settled += 1;
                break;
            }
        }
        for row in store::stale_pending_charges(&self.db, cutoff, REFUND_RECOVERY_BATCH_MAX).await?
        {
            let reference = format!("paycode:{}:{}", row.device_id, row.counter);
            let found = crate::ledger::store::transfer_by_reference(&self.db, &reference).await?;
            let Some(transfer) = found.filter(|t| t.memo.as_deref() == Some(row.id.as_str()))
            else {
                continue;
            };
            store::settle(
                &self.db,
                Table::Charges,
                &row.id,
                "succeeded",
                Some(&transfer.id),
            )
            .await?;
            let mut done = row;
            done.status = "succeeded".to_owned();
            done.transfer_id = Some(transfer.id);
            let charge = charge_view(&done)?;
            self.publish(
                &done.payer_id,
                &done.merchant_id,
                EventType::PaymentSucceeded,
                format!("charge:{}", charge.id),
                serde_json::to_value(&charge).unwrap_or_default(),
            )
            .await;
            settled += 1;
        }
        Ok(settled)
    }

    /// Completes refunds left pending by a crash between their reservation and their transfer
    /// (older than [`REFUND_RECOVERY_AGE_MS`], so none still in flight): each is posted under its
    /// own reference (a replay if it had moved) or released. Run once at start; safe to run in
    /// several processes at once (the ledger reference and the pending → failed step are
    /// conditional). Answers how many it completed or released.
    pub async fn recover_pending_refunds(&self) -> Result<usize, PaymentError> {
        let cutoff = now_ms() - REFUND_RECOVERY_AGE_MS;
        let stale =
            store::stale_pending_refunds(&self.db, cutoff, REFUND_RECOVERY_BATCH_MAX).await?;
        let mut done = 0;
        for row in stale {
            let table = if row.payment_id.starts_with(IdKind::Charge.prefix()) {
                Table::Charges
            } else {
                Table::Payments
            };
            let Some(payable) = self.payable(table, &row.payment_id).await? else {
                continue;
            };
            let Some(merchant) = self.merchants.row(&row.merchant_id).await? else {
                continue;
            };
            let id = row.id.clone();
            match self.finish_refund(&merchant, &payable, row).await {
                Ok(_) => done += 1,
                Err(err) => {
                    tracing::warn!(refund_id = %id, error = %err, "pending refund not completed");
                }
            }
        }
        Ok(done)
    }

    /// A refund for its merchant's owner or POS keys, or the payer.
    pub async fn get_refund(
        &self,
        caller: &MerchantCaller,
        id: &str,
    ) -> Result<Refund, PaymentError> {
        if !ids::is_valid(IdKind::Refund, id) {
            return Err(PaymentError::NotFound("refund"));
        }
        let row = store::refund(&self.db, id)
            .await?
            .filter(|row| row.status == "succeeded")
            .ok_or(PaymentError::NotFound("refund"))?;
        let table = if row.payment_id.starts_with(IdKind::Charge.prefix()) {
            Table::Charges
        } else {
            Table::Payments
        };
        let payable = self
            .payable(table, &row.payment_id)
            .await?
            .ok_or(PaymentError::NotFound("refund"))?;
        let is_payer =
            matches!(caller, MerchantCaller::User(user) if user.user_id == payable.payer_id);
        if !is_payer {
            self.merchants
                .authorized(caller, &row.merchant_id)
                .await
                .map_err(|_| PaymentError::NotFound("refund"))?;
        }
        refund_view(&row)
    }
}
