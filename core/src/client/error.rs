//! `ClientError`: every way a [`super::PurseClient`] call can fail, each with a stable `code()`.
//! A refusal by the server keeps the server's own problem `code` (`insufficient_funds`,
//! `qr_expired`, ...); failures that never reached an answer have codes of their own
//! (`network_unreachable`, `network_timeout`). Reasons never hold tokens, passwords or keys.

use crate::api::Problem;
use crate::keys::KeyError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (`application/problem+json`); `problem.code` is the
    /// server's stable code.
    #[error("{} ({status}): {}", problem.code, problem.detail.as_deref().unwrap_or(&problem.title))]
    Api { status: u16, problem: Problem },
    /// The request did not get an answer: DNS, connection refused, TLS, a reset connection.
    #[error("the server could not be reached: {reason}")]
    Network { reason: String },
    /// The server did not answer in time (connect or whole-call timeout).
    #[error("the server did not answer in time: {reason}")]
    Timeout { reason: String },
    /// The server answered something that is not the documented body (wrong JSON, a non-problem
    /// error page from a proxy, a body over the size limit).
    #[error("unexpected answer from the server (HTTP {status}): {reason}")]
    Response { status: u16, reason: String },
    /// The call needs a logged-in session (sign up, log in or `resume` first).
    #[error("not logged in: sign up, log in or resume a saved session first")]
    NotLoggedIn,
    /// A money-moving call needs a registered device (`register_device` first).
    #[error("no device registered: call register_device first")]
    NoDevice,
    /// The device key could not sign (a locked keystore), or made a signature that does not
    /// verify under its public key.
    #[error(transparent)]
    Signer(KeyError),
    /// The app's session store could not save the rotated refresh token. The new session is
    /// still usable in this process, but would be lost on restart.
    #[error("the session store failed: {reason}")]
    SessionStore { reason: String },
    /// An argument the client checks itself before sending (a base URL, an idempotency key).
    #[error("{code}: {reason}")]
    Invalid { code: &'static str, reason: String },
}

impl ClientError {
    /// The stable machine code.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api { problem, .. } => &problem.code,
            ClientError::Network { .. } => "network_unreachable",
            ClientError::Timeout { .. } => "network_timeout",
            ClientError::Response { .. } => "response_invalid",
            ClientError::NotLoggedIn => "not_logged_in",
            ClientError::NoDevice => "device_not_registered",
            ClientError::Signer(err) => err.code(),
            ClientError::SessionStore { .. } => "session_store_failed",
            ClientError::Invalid { code, .. } => code,
        }
    }

    /// The HTTP status of a server refusal, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn from_transport(err: ureq::Error) -> ClientError {
        match err {
            ureq::Error::Timeout(which) => ClientError::Timeout {
                reason: format!("{which:?} timeout"),
            },
            ureq::Error::BodyExceedsLimit(limit) => ClientError::Response {
                status: 200,
                reason: format!("the body exceeds {limit} bytes"),
            },
            other => ClientError::Network {
                reason: other.to_string(),
            },
        }
    }
}
