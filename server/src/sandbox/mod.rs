//! The built-in sandbox acquirer: a separate payment system that behaves like a real card
//! acquirer / bank-transfer provider over HTTP, so top-ups, webhooks and settlement run end to end
//! on one machine. Mounted under `/sandbox` of `purse serve` (`[sandbox] enabled`, the default) or
//! run alone with `purse sandbox-provider --listen 127.0.0.1:PORT`.
//!
//! It keeps its own state (the `sandbox_intents` table; fault switches and the delivery log in
//! memory) and never reads Purse's tables or calls Purse code other than [`crate::providers`]'
//! signature function: Purse learns what happened only through signed webhooks, intent look-ups
//! and settlement report files, as with a real provider.
//!
//! - Intents (`pi_...`) for `card` and `bank_transfer`: `requires_confirmation`, then the payer's
//!   confirm step (`approve` → `captured`, `decline` → `declined`), then possibly `charged_back`.
//! - Webhooks `intent.captured`, `intent.declined`, `intent.charged_back`, signed
//!   `Sandbox-Signature: t=...,v1=...` with every signing secret, retried 3 times on failure.
//! - Fault switches ([`Faults`]): duplicate delivery, delay, out of order (an event is held back
//!   and delivered after the next one), bad signature.
//! - Settlement reports: one CSV per UTC day (docs/formats.md, "Settlement report").

pub mod http;
pub mod store;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::SandboxConfig;
use crate::db::Db;
use crate::ids::{self, IdKind};
use crate::ledger::now_ms;
use crate::providers::sandbox::SelfUrl;
use crate::providers::{Intent, NewIntent, WebhookEvent};
use crate::settlement::csv;

/// Delivery attempts per webhook event.
pub const DELIVERY_ATTEMPTS_MAX: u32 = 3;
/// Deliveries remembered for `GET /sandbox/admin/deliveries`.
pub const DELIVERY_LOG_MAX: usize = 1000;
/// The sandbox's chargeback fee, in minor units.
pub const CHARGEBACK_FEE_MINOR: i64 = 1500;

/// Switchable misbehaviour of webhook delivery (`POST /sandbox/admin/faults`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Deliver every event twice.
    pub duplicate: bool,
    /// Wait this long before delivering.
    pub delay_ms: u64,
    /// Hold each event back until the next one was delivered.
    pub out_of_order: bool,
    /// Sign with a secret Purse does not know.
    pub bad_signature: bool,
}

/// One delivery attempt, as the sandbox saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub intent: String,
    pub attempt: u32,
    /// Purse's HTTP status; 0 when it could not be reached.
    pub status: u16,
}

/// Why the sandbox refused a call.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("no such intent")]
    NotFound,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the intent is {0}; this step does not apply")]
    WrongState(String),
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
}

impl From<SandboxError> for crate::error::ApiError {
    fn from(err: SandboxError) -> crate::error::ApiError {
        use crate::error::ApiError;
        match err {
            SandboxError::NotFound => ApiError::not_found("intent"),
            SandboxError::Invalid(_) => ApiError::bad_request("intent_invalid", err.to_string()),
            SandboxError::WrongState(_) => ApiError::conflict("intent_state", err.to_string()),
            SandboxError::Storage(err) => ApiError::internal(format_args!("sandbox: {err}")),
        }
    }
}

/// The acquirer's fee on a capture: card 2.9 % + 30 minor units, bank transfer 50 minor units.
pub fn capture_fee_minor(method: &str, amount_minor: i64) -> i64 {
    match method {
        "card" => (amount_minor.saturating_mul(290) + 5000) / 10_000 + 30,
        _ => 50,
    }
}

/// The sandbox acquirer; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    config: SandboxConfig,
    self_url: SelfUrl,
    faults: Mutex<Faults>,
    held: Mutex<Vec<WebhookEvent>>,
    deliveries: Mutex<VecDeque<Delivery>>,
}

impl Sandbox {
    pub fn new(db: Db, config: SandboxConfig, self_url: SelfUrl) -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner {
                db,
                config,
                self_url,
                faults: Mutex::new(Faults::default()),
                held: Mutex::new(Vec::new()),
                deliveries: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// True when `authorization` carries the API key.
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let expected = format!("Bearer {}", self.inner.config.api_key);
        authorization.is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
    }

    fn base(&self) -> String {
        let own = self.inner.self_url.get().cloned().unwrap_or_default();
        format!("{own}/sandbox")
    }

    fn webhook_url(&self) -> Option<String> {
        match &self.inner.config.webhook_url {
            Some(url) => Some(url.clone()),
            None => self
                .inner
                .self_url
                .get()
                .map(|own| format!("{own}/v1/providers/sandbox/webhooks")),
        }
    }

    fn to_intent(&self, row: store::Row) -> Intent {
        Intent {
            confirm_url: format!("{}/intents/{}/confirm", self.base(), row.id),
            id: row.id,
            amount_minor: row.amount_minor,
            currency: row.currency,
            method: row.method,
            status: row.status,
            reference: row.reference,
            created_at_ms: row.created_at_ms,
            captured_at_ms: row.captured_at_ms,
            charged_back_at_ms: row.charged_back_at_ms,
        }
    }

    pub async fn create(&self, new: NewIntent) -> Result<Intent, SandboxError> {
        if !(1..=crate::ledger::AMOUNT_MINOR_MAX).contains(&new.amount_minor) {
            return Err(SandboxError::Invalid("amount_minor out of range"));
        }
        if purse_core::money::Currency::from_code(&new.currency).is_err() {
            return Err(SandboxError::Invalid("unknown currency"));
        }
        if !matches!(new.method.as_str(), "card" | "bank_transfer") {
            return Err(SandboxError::Invalid(
                "method must be card or bank_transfer",
            ));
        }
        if new.reference.is_empty() || new.reference.len() > 100 {
            return Err(SandboxError::Invalid("reference must be 1 to 100 bytes"));
        }
        let row = store::Row {
            id: format!("pi_{}", &ids::new_id(IdKind::Session)[4..]),
            fee_minor: capture_fee_minor(&new.method, new.amount_minor),
            amount_minor: new.amount_minor,
            currency: new.currency,
            method: new.method,
            status: "requires_confirmation".to_owned(),
            reference: new.reference,
            created_at_ms: now_ms(),
            captured_at_ms: None,
            declined_at_ms: None,
            charged_back_at_ms: None,
        };
        store::insert(&self.inner.db, &row).await?;
        Ok(self.to_intent(row))
    }

    pub async fn get(&self, id: &str) -> Result<Intent, SandboxError> {
        let row = store::get(&self.inner.db, id)
            .await?
            .ok_or(SandboxError::NotFound)?;
        Ok(self.to_intent(row))
    }

    /// The payer's confirm step: `approve` captures, `decline` declines; then the webhook.
    pub async fn confirm(&self, id: &str, approve: bool) -> Result<Intent, SandboxError> {
        let (to, column, event) = if approve {
            ("captured", "captured_at_ms", "intent.captured")
        } else {
            ("declined", "declined_at_ms", "intent.declined")
        };
        self.transition(id, "requires_confirmation", to, column, event)
            .await
    }

    /// The card holder's bank reverses a capture.
    pub async fn chargeback(&self, id: &str) -> Result<Intent, SandboxError> {
        self.transition(
            id,
            "captured",
            "charged_back",
            "charged_back_at_ms",
            "intent.charged_back",
        )
        .await
    }

    async fn transition(
        &self,
        id: &str,
        from: &str,
        to: &str,
        column: &str,
        event_type: &str,
    ) -> Result<Intent, SandboxError> {
        let db = &self.inner.db;
        if !store::transition(db, id, from, to, column, now_ms()).await? {
            let row = store::get(db, id).await?.ok_or(SandboxError::NotFound)?;
            return Err(SandboxError::WrongState(row.status));
        }
        let intent = self.get(id).await?;
        self.emit(WebhookEvent {
            id: format!("sbxevt_{}", &ids::new_id(IdKind::Session)[4..]),
            type_: event_type.to_owned(),
            created_at_ms: now_ms(),
            intent: intent.clone(),
        });
        Ok(intent)
    }

    pub fn faults(&self) -> Faults {
        self.inner.faults.lock().expect("not poisoned").clone()
    }

    /// Switches fault modes; turning `out_of_order` off delivers what was held back.
    pub fn set_faults(&self, faults: Faults) -> Faults {
        let release = !faults.out_of_order;
        *self.inner.faults.lock().expect("not poisoned") = faults.clone();
        if release {
            let held = std::mem::take(&mut *self.inner.held.lock().expect("not poisoned"));
            for event in held {
                self.deliver(event, &faults);
            }
        }
        faults
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner
            .deliveries
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Sends `event` to Purse under the current faults.
    fn emit(&self, event: WebhookEvent) {
        let faults = self.faults();
        if faults.out_of_order {
            let mut held = self.inner.held.lock().expect("not poisoned");
            if held.is_empty() {
                held.push(event);
                return;
            }
            let earlier = std::mem::take(&mut *held);
            drop(held);
            // The newer event first, then what was held back.
            self.deliver(event, &faults);
            for old in earlier {
                self.deliver(old, &faults);
            }
            return;
        }
        self.deliver(event, &faults);
    }

    fn deliver(&self, event: WebhookEvent, faults: &Faults) {
        let Some(url) = self.webhook_url() else {
            tracing::warn!("sandbox: no webhook URL yet; event dropped");
            return;
        };
        let copies = if faults.duplicate { 2 } else { 1 };
        let secrets: Vec<String> = if faults.bad_signature {
            vec!["whsec_sandbox_not_the_right_secret".to_owned()]
        } else {
            self.inner.config.signing_secrets().to_vec()
        };
        let delay = Duration::from_millis(faults.delay_ms);
        let body = serde_json::to_vec(&event).expect("an event serializes");
        let sandbox = self.clone();
        // Delivered in order on this thread's runtime (the HTTP client is not `Send`).
        actix_rt::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for _ in 0..copies {
                sandbox
                    .post_with_retries(&url, &secrets, &event, &body)
                    .await;
            }
        });
    }

    async fn post_with_retries(
        &self,
        url: &str,
        secrets: &[String],
        event: &WebhookEvent,
        body: &[u8],
    ) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(10))
            .finish();
        for attempt in 1..=DELIVERY_ATTEMPTS_MAX {
            let header = crate::providers::sign(secrets, now_ms() / 1000, body);
            let status = match client
                .post(url)
                .insert_header(("content-type", "application/json"))
                .insert_header((crate::providers::SIGNATURE_HEADER, header))
                .send_body(body.to_vec())
                .await
            {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            self.record(Delivery {
                event_id: event.id.clone(),
                type_: event.type_.clone(),
                intent: event.intent.id.clone(),
                attempt,
                status,
            });
            if (200..300).contains(&status) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
    }

    fn record(&self, delivery: Delivery) {
        let mut log = self.inner.deliveries.lock().expect("not poisoned");
        if log.len() == DELIVERY_LOG_MAX {
            log.pop_front();
        }
        log.push_back(delivery);
    }

    /// The settlement report of UTC day `date` (`YYYY-MM-DD`) as CSV: one line per capture and
    /// per chargeback of that day.
    pub async fn settlement_report(&self, date: &str) -> Result<String, SandboxError> {
        let day = csv::Day::parse(date).ok_or(SandboxError::Invalid("date must be YYYY-MM-DD"))?;
        let (captured, charged_back) =
            store::settled_between(&self.inner.db, day.start_ms(), day.end_ms()).await?;
        let report_id = day.report_id();
        let mut out = String::from(csv::HEADER);
        out.push('\n');
        let mut push = |kind: csv::LineType, row: &store::Row, gross: i64, fee: i64| {
            let line = csv::Line {
                report_id: report_id.clone(),
                report_date: day.to_string(),
                line_type: kind,
                provider_reference: row.id.clone(),
                currency: row.currency.clone(),
                gross_minor: gross,
                fee_minor: fee,
                net_minor: gross - fee,
            };
            out.push_str(&line.to_csv());
            out.push('\n');
        };
        for row in &captured {
            push(csv::LineType::Capture, row, row.amount_minor, row.fee_minor);
        }
        for row in &charged_back {
            push(
                csv::LineType::Chargeback,
                row,
                -row.amount_minor,
                CHARGEBACK_FEE_MINOR,
            );
        }
        Ok(out)
    }
}
