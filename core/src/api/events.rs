//! Live events: what happened to a user or a merchant (`payment.succeeded`, `transfer.received`,
//! ...), as Server-Sent Events (`GET /v1/events`), webhook bodies and the SDK's event wait read
//! them. One definition of the type names ([`EventType`]) and of the body ([`Event`]).

use serde::{Deserialize, Serialize};

/// Every event type the server publishes. The wire name (`as_str`) is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A payment to a merchant succeeded (to the payer and to the merchant).
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    /// A merchant refunded a payment, fully or partly (to the payer and to the merchant).
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
    /// Someone sent you money (to the recipient of a P2P transfer).
    #[serde(rename = "transfer.received")]
    TransferReceived,
    /// A top-up was captured and the wallet credited.
    #[serde(rename = "topup.succeeded")]
    TopupSucceeded,
    /// A top-up was declined or failed; no money moved.
    #[serde(rename = "topup.failed")]
    TopupFailed,
    /// A captured top-up was charged back by the card holder's bank.
    #[serde(rename = "topup.charged_back")]
    TopupChargedBack,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::PaymentSucceeded,
        EventType::PaymentRefunded,
        EventType::TransferReceived,
        EventType::TopupSucceeded,
        EventType::TopupFailed,
        EventType::TopupChargedBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentSucceeded => "payment.succeeded",
            EventType::PaymentRefunded => "payment.refunded",
            EventType::TransferReceived => "transfer.received",
            EventType::TopupSucceeded => "topup.succeeded",
            EventType::TopupFailed => "topup.failed",
            EventType::TopupChargedBack => "topup.charged_back",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// One event as clients receive it (the SSE `data:` line, a webhook body, a list item).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// `evt_...`; also the SSE `id:`, so `Last-Event-ID` resumes after it.
    pub id: String,
    #[serde(rename = "type")]
    pub type_: EventType,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// The object the event is about (a payment, a transfer, a top-up), as its own endpoint
    /// returns it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

/// Longest `wait` the long-poll form of `GET /v1/events` accepts, in seconds.
pub const EVENTS_WAIT_S_MAX: u32 = 30;

/// Query parameters of `GET /v1/events`.
///
/// Without `after`, `limit` and `wait` the answer is a Server-Sent Events stream (resumed after
/// `last_event_id` or the `Last-Event-ID` header, else starting with the next new event). With any
/// of them it is the long-poll JSON form: a [`crate::api::Page`] of events after `after` (from the
/// oldest when absent), waiting up to `wait` seconds for the first one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct EventsQuery {
    /// `mer_...`: the events of this merchant (its owner's token, or its POS key) instead of the
    /// caller's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<String>,
    /// SSE: resume after this event (like the `Last-Event-ID` header, which wins when both are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
    /// Long-poll: the events after this one (`evt_...`); from the oldest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Long-poll: at most this many events, 1 to 100 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Long-poll: wait up to this many seconds (0 to 30, default 0) for an event when none is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
}

impl EventsQuery {
    /// True when the query asks for the long-poll JSON form rather than a stream.
    pub fn is_long_poll(&self) -> bool {
        self.after.is_some() || self.limit.is_some() || self.wait.is_some()
    }
}
