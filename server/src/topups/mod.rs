//! Top-ups: money entering Purse through a payment provider (DESIGN.md "Top-up and settlement").
//! `POST /v1/topups` records a pending top-up and creates the provider's intent, whose confirm
//! URL is the payer's next action; the provider's signed webhooks then drive it to `succeeded`
//! (the wallet credited), `failed`/`canceled` (no ledger trace) or, later, `charged_back`.
//!
//! A webhook is a hint, never the truth: after checking its signature the top-up is moved to the
//! state of the intent as the provider reports it *now* ([`Provider::fetch_intent`]), so
//! duplicates, late and out-of-order deliveries all end in the provider's state. A webhook that
//! never comes (lost in a crash) is made up for by the owner's next read of a top-up pending for
//! more than [`PENDING_RECHECK_AFTER_MS`], which re-reads the intent. It never writes a balance
//! itself: money moves through [`Ledger`] only.
//!
//! **Invariant:** a top-up credits its wallet at most once: the credit is the ledger transfer
//! provider receivable → wallet under reference `topup:<top id>` (`UNIQUE` in the ledger). A
//! chargeback takes back what the wallet holds (`chargeback:<top id>:wallet`, decided by the
//! wallet's actor, the one place that knows the balance) and books the rest as a loss
//! (`chargeback:<top id>:loss`); both are credited to the provider receivable.

pub mod http;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use purse_core::api::events::EventType;
use purse_core::api::topups::{CreateTopUpRequest, NextAction, TopUp};
use purse_core::money::{self, Amount, Currency, MoneyError};

use crate::db::Db;
use crate::error::ApiError;
use crate::events::{Events, NewEvent};
use crate::ids::{self, IdKind};
use crate::ledger::{
    Ledger, LedgerError, NewTransfer, SystemAccount, TransferKind, now_ms, store as ledger_store,
};
use crate::metrics::Metrics;
use crate::providers::sandbox::SandboxClient;
use crate::providers::{Intent, NewIntent, Provider, ProviderError, SignatureError, WebhookEvent};
use crate::wallets::{self, WalletError};

/// A top-up still `pending` this long after it was created is re-read from the provider when its
/// owner reads it (`GET /v1/topups/{id}`): the webhook that should have settled it may be lost (a
/// crash of the process that was to receive or, for the in-process sandbox, to send it).
pub const PENDING_RECHECK_AFTER_MS: i64 = 3_000;
/// Top-ups whose last re-read time this process remembers (re-reads of one top-up are at least
/// [`PENDING_RECHECK_AFTER_MS`] apart); the memory is cleared when full.
pub const RECHECKS_TRACKED_MAX: usize = 10_000;

/// Webhook event types the top-ups area applies; others are acknowledged and ignored.
pub const KNOWN_EVENTS: [&str; 4] = [
    "intent.captured",
    "intent.declined",
    "intent.canceled",
    "intent.charged_back",
];

/// Why a top-up call failed.
#[derive(Debug, thiserror::Error)]
pub enum TopUpError {
    #[error("method must be card or bank_transfer")]
    MethodInvalid,
    #[error(transparent)]
    Amount(MoneyError),
    #[error("no such wallet")]
    WalletNotFound,
    #[error("no such top-up")]
    NotFound,
    #[error(transparent)]
    Signature(SignatureError),
    #[error("the webhook body is not a provider event")]
    BodyInvalid,
    #[error("the provider is unavailable: {0}")]
    Provider(ProviderError),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<sqlx::Error> for TopUpError {
    fn from(err: sqlx::Error) -> TopUpError {
        TopUpError::Storage(err.to_string())
    }
}

impl From<LedgerError> for TopUpError {
    fn from(err: LedgerError) -> TopUpError {
        TopUpError::Ledger(err)
    }
}

impl From<WalletError> for TopUpError {
    fn from(err: WalletError) -> TopUpError {
        match err {
            WalletError::NotFound => TopUpError::WalletNotFound,
            WalletError::Ledger(err) => TopUpError::Ledger(err),
            other => TopUpError::Storage(other.to_string()),
        }
    }
}

impl From<TopUpError> for ApiError {
    fn from(err: TopUpError) -> ApiError {
        match err {
            TopUpError::MethodInvalid => ApiError::bad_request("method_invalid", err.to_string()),
            TopUpError::Amount(err) => ApiError::bad_request(err.code(), err.to_string()),
            TopUpError::WalletNotFound => ApiError::not_found("wallet"),
            TopUpError::NotFound => ApiError::not_found("top-up"),
            TopUpError::Signature(err) => ApiError::bad_request(err.code(), err.to_string()),
            TopUpError::BodyInvalid => {
                ApiError::bad_request("webhook_body_invalid", err.to_string())
            }
            TopUpError::Provider(err) => {
                tracing::warn!(error = %err, "payment provider call failed");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "provider_unavailable",
                    "Provider unavailable",
                )
                .detail("the payment provider did not answer; retry with the same key")
            }
            TopUpError::Ledger(err) => err.into(),
            TopUpError::Storage(message) => ApiError::internal(format_args!("topups: {message}")),
        }
    }
}

/// What a webhook delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    Applied,
    Duplicate,
    Ignored,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

/// A validated `CreateTopUpRequest` (no database needed).
pub struct NewTopUp {
    wallet: String,
    amount_text: String,
    method: &'static str,
}

impl NewTopUp {
    pub fn validate(request: &CreateTopUpRequest) -> Result<NewTopUp, TopUpError> {
        let method = match request.method.as_str() {
            "card" => "card",
            "bank_transfer" => "bank_transfer",
            _ => return Err(TopUpError::MethodInvalid),
        };
        Ok(NewTopUp {
            wallet: request.wallet.clone(),
            amount_text: request.amount.clone(),
            method,
        })
    }
}

/// The top-ups service; cheap to clone.
#[derive(Clone)]
pub struct TopUps {
    db: Db,
    ledger: Ledger,
    events: Events,
    metrics: Metrics,
    provider: SandboxClient,
    /// Top-up id -> when this process last re-read its intent (see [`PENDING_RECHECK_AFTER_MS`]).
    rechecked_ms: Arc<Mutex<HashMap<String, i64>>>,
}

fn to_wire(row: &store::Row) -> Result<TopUp, TopUpError> {
    let unit = Currency::from_code(&row.currency)
        .map_err(|_| TopUpError::Storage(format!("top-up {} has a bad currency", row.id)))?;
    Ok(TopUp {
        id: row.id.clone(),
        wallet: row.wallet_id.clone(),
        amount: money::format_minor(row.amount_minor, unit),
        currency: row.currency.clone(),
        method: row.method.clone(),
        status: row.status.clone(),
        next_action: match (&row.status[..], &row.next_action_url) {
            ("pending", Some(url)) => Some(NextAction {
                type_: "redirect".to_owned(),
                url: url.clone(),
            }),
            _ => None,
        },
        failure_code: row.failure_code.clone(),
        transfer_id: row.transfer_id.clone(),
        created_at_ms: row.created_at_ms,
    })
}

impl TopUps {
    pub fn new(
        db: Db,
        ledger: Ledger,
        events: Events,
        metrics: Metrics,
        provider: SandboxClient,
    ) -> TopUps {
        TopUps {
            db,
            ledger,
            events,
            metrics,
            provider,
            rechecked_ms: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn provider(&self) -> &SandboxClient {
        &self.provider
    }

    /// Creates a pending top-up of one of `user_id`'s wallets and the provider's intent.
    pub async fn create(&self, user_id: &str, new: NewTopUp) -> Result<TopUp, TopUpError> {
        let wallet = wallets::owned(&self.ledger, user_id, &new.wallet).await?;
        let unit = Currency::from_code(&wallet.currency)
            .map_err(|_| TopUpError::Storage("a wallet with a bad currency".to_owned()))?;
        let amount = Amount::parse(&new.amount_text, unit).map_err(TopUpError::Amount)?;
        let now = now_ms();
        let mut row = store::Row {
            id: ids::new_id(IdKind::TopUp),
            owner_id: user_id.to_owned(),
            wallet_id: wallet.id,
            currency: wallet.currency,
            amount_minor: amount.minor(),
            method: new.method.to_owned(),
            status: "pending".to_owned(),
            provider: self.provider.name().to_owned(),
            provider_ref: None,
            next_action_url: None,
            failure_code: None,
            transfer_id: None,
            captured_at_ms: None,
            charged_back_at_ms: None,
            created_at_ms: now,
        };
        store::insert(&self.db, &row).await?;
        self.metrics.topup("pending");
        let intent = match self
            .provider
            .create_intent(&NewIntent {
                amount_minor: row.amount_minor,
                currency: row.currency.clone(),
                method: row.method.clone(),
                reference: row.id.clone(),
            })
            .await
        {
            Ok(intent) => intent,
            Err(err) => {
                if store::mark_failed(
                    &self.db,
                    &row.id,
                    "failed",
                    "provider_unavailable",
                    now_ms(),
                )
                .await?
                {
                    self.metrics.topup("failed");
                }
                return Err(TopUpError::Provider(err));
            }
        };
        store::set_intent(&self.db, &row.id, &intent.id, &intent.confirm_url, now_ms()).await?;
        row.provider_ref = Some(intent.id);
        row.next_action_url = Some(intent.confirm_url);
        to_wire(&row)
    }

    /// `top_id` if `user_id` owns it; `NotFound` otherwise, whether it exists or not.
    pub async fn get(&self, user_id: &str, top_id: &str) -> Result<TopUp, TopUpError> {
        if !ids::is_valid(IdKind::TopUp, top_id) {
            return Err(TopUpError::NotFound);
        }
        let row = store::get(&self.db, top_id)
            .await?
            .filter(|row| row.owner_id == user_id)
            .ok_or(TopUpError::NotFound)?;
        let row = self.recheck_if_stale(row).await?;
        to_wire(&row)
    }

    /// `row` as the provider's intent says it is now, if it has been pending for more than
    /// [`PENDING_RECHECK_AFTER_MS`] (and was not re-read here since); else `row` itself. A provider
    /// that does not answer leaves the top-up as stored (the read still succeeds).
    async fn recheck_if_stale(&self, row: store::Row) -> Result<store::Row, TopUpError> {
        let now = now_ms();
        let Some(intent_id) = row.provider_ref.clone() else {
            return Ok(row);
        };
        if row.status != "pending" || now - row.created_at_ms < PENDING_RECHECK_AFTER_MS {
            return Ok(row);
        }
        {
            let mut rechecked = self.rechecked_ms.lock().unwrap_or_else(|p| p.into_inner());
            if rechecked
                .get(&row.id)
                .is_some_and(|&at| now - at < PENDING_RECHECK_AFTER_MS)
            {
                return Ok(row);
            }
            if rechecked.len() >= RECHECKS_TRACKED_MAX {
                rechecked.clear();
            }
            rechecked.insert(row.id.clone(), now);
        }
        let truth = match self.provider.fetch_intent(&intent_id).await {
            Ok(truth) => truth,
            Err(err) => {
                tracing::warn!(topup = %row.id, error = %err, "re-reading a pending top-up failed");
                return Ok(row);
            }
        };
        tracing::info!(topup = %row.id, intent = %intent_id, status = %truth.status,
            "pending top-up re-read from the provider");
        let id = row.id.clone();
        if let Err(err) = self.apply(row, &truth).await {
            // As for a provider that did not answer: the stored state is still the answer.
            tracing::warn!(topup = %id, error = %err, "applying a re-read top-up failed");
        }
        store::get(&self.db, &id).await?.ok_or(TopUpError::NotFound)
    }

    /// A provider webhook: signature first, then the provider's truth for its intent.
    pub async fn webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, TopUpError> {
        self.provider
            .verify_webhook(signature, body, now_ms() / 1000)
            .map_err(TopUpError::Signature)?;
        // Only the fields we rely on; a new field or event type never breaks us.
        let event: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| TopUpError::BodyInvalid)?;
        let Some(type_) = event["type"].as_str() else {
            return Err(TopUpError::BodyInvalid);
        };
        if !KNOWN_EVENTS.contains(&type_) {
            tracing::info!(
                event_type = type_,
                "provider webhook of an unknown type ignored"
            );
            return Ok(WebhookOutcome::Ignored);
        }
        let event: WebhookEvent =
            serde_json::from_value(event).map_err(|_| TopUpError::BodyInvalid)?;
        let provider = self.provider.name();
        if store::webhook_seen(&self.db, provider, &event.id).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        let Some(row) = store::by_provider_ref(&self.db, provider, &event.intent.id).await? else {
            tracing::warn!(intent = %event.intent.id, "provider webhook for an unknown intent");
            return Ok(WebhookOutcome::Ignored);
        };
        let truth = self
            .provider
            .fetch_intent(&event.intent.id)
            .await
            .map_err(TopUpError::Provider)?;
        self.apply(row, &truth).await?;
        store::webhook_applied(&self.db, provider, &event.id, &event.type_, now_ms()).await?;
        Ok(WebhookOutcome::Applied)
    }

    /// Moves the top-up to the intent's state as the provider reports it.
    async fn apply(&self, row: store::Row, truth: &Intent) -> Result<(), TopUpError> {
        if truth.amount_minor != row.amount_minor || truth.currency != row.currency {
            tracing::error!(topup = %row.id, intent = %truth.id, "provider intent differs from the top-up");
            return Err(TopUpError::Storage(
                "the provider's intent does not match the top-up".to_owned(),
            ));
        }
        match truth.status.as_str() {
            "captured" => {
                self.capture(&row, truth).await?;
            }
            "charged_back" => {
                let row = self.capture(&row, truth).await?;
                self.charge_back(&row, truth).await?;
            }
            "declined" => self.fail(&row, "failed", "payment_declined").await?,
            "canceled" => self.fail(&row, "canceled", "payment_canceled").await?,
            _ => {}
        }
        Ok(())
    }

    /// Credits the wallet once and marks the top-up `succeeded`; answers the row as it is after.
    async fn capture(&self, row: &store::Row, truth: &Intent) -> Result<store::Row, TopUpError> {
        if matches!(row.status.as_str(), "succeeded" | "charged_back") {
            return Ok(row.clone());
        }
        let receivable = self
            .ledger
            .system_account(SystemAccount::ProviderReceivable, &row.currency)
            .await?;
        let posted = self
            .ledger
            .transfer(NewTransfer {
                reference: format!("topup:{}", row.id),
                kind: TransferKind::TopUp,
                debit_account: receivable.id,
                credit_account: row.wallet_id.clone(),
                currency: row.currency.clone(),
                amount_minor: row.amount_minor,
                memo: None,
            })
            .await?;
        let captured_at_ms = truth.captured_at_ms.unwrap_or_else(now_ms);
        if store::mark_succeeded(
            &self.db,
            &row.id,
            &posted.transfer.id,
            captured_at_ms,
            now_ms(),
        )
        .await?
        {
            self.metrics.topup("succeeded");
        }
        let row = store::get(&self.db, &row.id)
            .await?
            .ok_or(TopUpError::NotFound)?;
        self.publish(&row, EventType::TopupSucceeded, "succeeded")
            .await;
        Ok(row)
    }

    async fn fail(&self, row: &store::Row, status: &str, code: &str) -> Result<(), TopUpError> {
        if store::mark_failed(&self.db, &row.id, status, code, now_ms()).await? {
            self.metrics.topup(status);
        }
        let row = store::get(&self.db, &row.id)
            .await?
            .ok_or(TopUpError::NotFound)?;
        if row.status == status {
            self.publish(&row, EventType::TopupFailed, "failed").await;
        }
        Ok(())
    }

    /// Takes the top-up back: from the wallet what it holds, the rest as a chargeback loss.
    async fn charge_back(&self, row: &store::Row, truth: &Intent) -> Result<(), TopUpError> {
        if row.status == "charged_back" {
            return Ok(());
        }
        let receivable = self
            .ledger
            .system_account(SystemAccount::ProviderReceivable, &row.currency)
            .await?;
        let wallet_reference = format!("chargeback:{}:wallet", row.id);
        let loss_reference = format!("chargeback:{}:loss", row.id);
        // Once the loss is booked the split is decided; a retry must not re-decide it.
        let loss_before = ledger_store::transfer_by_reference(self.ledger.db(), &loss_reference)
            .await
            .map_err(LedgerError::from)?;
        let wanted_from_wallet = match &loss_before {
            Some(loss) => row.amount_minor - loss.amount_minor,
            None => row.amount_minor,
        };
        let taken = if wanted_from_wallet > 0 {
            match self
                .ledger
                .transfer_up_to(NewTransfer {
                    reference: wallet_reference,
                    kind: TransferKind::Chargeback,
                    debit_account: row.wallet_id.clone(),
                    credit_account: receivable.id.clone(),
                    currency: row.currency.clone(),
                    amount_minor: wanted_from_wallet,
                    memo: None,
                })
                .await
            {
                Ok(posted) => posted.transfer.amount_minor,
                Err(LedgerError::InsufficientFunds) if loss_before.is_none() => 0,
                Err(err) => return Err(err.into()),
            }
        } else {
            0
        };
        let rest = row.amount_minor - taken;
        if rest > 0 && loss_before.is_none() {
            let loss = self
                .ledger
                .system_account(SystemAccount::ChargebackLoss, &row.currency)
                .await?;
            self.ledger
                .transfer(NewTransfer {
                    reference: loss_reference,
                    kind: TransferKind::Chargeback,
                    debit_account: loss.id,
                    credit_account: receivable.id,
                    currency: row.currency.clone(),
                    amount_minor: rest,
                    memo: None,
                })
                .await?;
        }
        let at = truth.charged_back_at_ms.unwrap_or_else(now_ms);
        if store::mark_charged_back(&self.db, &row.id, at, now_ms()).await? {
            self.metrics.topup("charged_back");
        }
        let row = store::get(&self.db, &row.id)
            .await?
            .ok_or(TopUpError::NotFound)?;
        self.publish(&row, EventType::TopupChargedBack, "charged_back")
            .await;
        Ok(())
    }

    /// Publishes after the money moved; a failure is logged, never returned.
    async fn publish(&self, row: &store::Row, type_: EventType, fact: &str) {
        let data = match to_wire(row).map(serde_json::to_value) {
            Ok(Ok(data)) => data,
            _ => return,
        };
        if let Err(err) = self
            .events
            .publish(NewEvent {
                owner_id: row.owner_id.clone(),
                type_,
                dedupe_key: format!("topup:{}:{fact}", row.id),
                data,
            })
            .await
        {
            tracing::warn!(error = %err, topup = %row.id, "publishing a top-up event failed");
        }
    }
}
