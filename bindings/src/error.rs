//! `PurseError`, the one error type the SDK shows to apps, and the one conversion that maps every
//! core failure onto it (`From<Failure>`), plus `guard`, which every exported call runs in so that
//! a Rust panic comes back as `PurseError::Internal` instead of crashing the app. It never puts
//! key material or passwords in a reason: core error messages carry none, and foreign callback
//! errors are the app's own text.

use std::panic::{self, AssertUnwindSafe};

use purse_core::client::ClientError;
use purse_core::emv::EmvError;
use purse_core::keys::KeyError;
use purse_core::merchant_code::MerchantCodeError;
use purse_core::money::MoneyError;
use purse_core::paycode::PaycodeError;
use purse_core::qr::QrError;

/// Every failure of the SDK. The variant says what the app should do about it; `code` is the
/// stable snake_case code shared with the CLI and the HTTP API (e.g. `backup_wrong_password`,
/// `merchant_code_bad_signature`); `reason` is an English sentence for logs and developers, not
/// for end users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PurseError {
    /// The input is not well formed: a malformed QR payload, key, amount, backup, or a field the
    /// format cannot hold. Show "not a valid ...".
    #[error("{code}: {reason}")]
    Invalid { code: String, reason: String },
    /// Well formed, but refused by a check: a signature, a key, an expiry, a replayed counter, a
    /// cap, a wrong backup password, not a Purse code. Refuse the payment or ask again.
    #[error("{code}: {reason}")]
    Rejected { code: String, reason: String },
    /// The `Signer` (a platform keystore) failed or made a signature that does not verify.
    #[error("{code}: {reason}")]
    Signer { code: String, reason: String },
    /// The `CounterStore` failed, or the device key used all its counters. No code was returned.
    #[error("{code}: {reason}")]
    Storage { code: String, reason: String },
    /// The server refused the request: `code` is the server's own stable problem code
    /// (`insufficient_funds`, `qr_expired`, `token_expired`, ...) and `status` the HTTP status.
    #[error("{code}: {reason}")]
    Api {
        code: String,
        reason: String,
        status: u16,
    },
    /// No usable answer from the server: `network_unreachable` (no connection, DNS, TLS),
    /// `network_timeout`, or `response_invalid` (not the documented body). A money-moving call
    /// may or may not have happened: retry it with the same idempotency key.
    #[error("{code}: {reason}")]
    Network { code: String, reason: String },
    /// A bug: the SDK caught a panic of its own, or an app callback threw an exception that is
    /// not a `PurseError`. The call was abandoned; please report it.
    #[error("{code}: {reason}")]
    Internal { code: String, reason: String },
}

impl PurseError {
    /// The stable machine code, whatever the variant.
    pub fn code(&self) -> &str {
        match self {
            PurseError::Invalid { code, .. }
            | PurseError::Rejected { code, .. }
            | PurseError::Signer { code, .. }
            | PurseError::Storage { code, .. }
            | PurseError::Internal { code, .. }
            | PurseError::Api { code, .. }
            | PurseError::Network { code, .. } => code,
        }
    }
}

/// An app callback (`Signer`, `CounterStore`) threw something other than a `PurseError`. The
/// callers wrap this in their own error (`signer_failed`, `counter_store_failed`); it only
/// reaches the app as is if a new callback forgets to.
impl From<uniffi::UnexpectedUniFFICallbackError> for PurseError {
    fn from(err: uniffi::UnexpectedUniFFICallbackError) -> PurseError {
        PurseError::Internal {
            code: "callback_failed".to_owned(),
            reason: format!(
                "an app callback threw an unexpected exception: {}",
                err.reason
            ),
        }
    }
}

/// Everything that can go wrong inside the SDK, with the core's own typed errors: many variants
/// here, few in `PurseError`, joined by `From<Failure> for PurseError` alone.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Emv(#[from] EmvError),
    #[error(transparent)]
    MerchantCode(#[from] MerchantCodeError),
    #[error(transparent)]
    Paycode(#[from] PaycodeError),
    #[error(transparent)]
    Qr(#[from] QrError),
    /// The app's `CounterStore` could not load or save; its own error is kept as the reason.
    #[error("the counter store failed: {0}")]
    CounterStore(PurseError),
    /// The stored counter is at `u32::MAX`: the device needs a new key.
    #[error("the pay code counter of this key is exhausted; generate a new device key")]
    CounterExhausted,
    /// A `PurseClient` call failed; the client's error keeps the server's problem code.
    #[error(transparent)]
    Client(ClientError),
    /// The device clock is before 1970 (or otherwise unreadable).
    #[error("the device clock is not set (before 1970)")]
    ClockInvalid,
}

enum Kind {
    /// A `PurseClient` call that the server refused or that got no usable answer.
    Remote,
    Invalid,
    Rejected,
    Signer,
    Storage,
    Internal,
}

impl Failure {
    fn code(&self) -> &'static str {
        match self {
            Failure::Key(err) => err.code(),
            Failure::Money(err) => err.code(),
            Failure::Emv(err) => err.code(),
            Failure::MerchantCode(err) => err.code(),
            Failure::Paycode(err) => err.code(),
            Failure::Qr(err) => err.code(),
            Failure::CounterStore(_) => "counter_store_failed",
            Failure::Client(_) => "client_failed",
            Failure::CounterExhausted => "counter_exhausted",
            Failure::ClockInvalid => "clock_invalid",
        }
    }

    /// The classification is a typed match, so a new core variant fails to compile here until
    /// someone decides what an app should do about it.
    fn kind(&self) -> Kind {
        match self {
            Failure::Key(err) => key_kind(err),
            Failure::Money(_) | Failure::Emv(_) | Failure::ClockInvalid => Kind::Invalid,
            Failure::MerchantCode(err) => match err {
                MerchantCodeError::Emv(_)
                | MerchantCodeError::Invalid { .. }
                | MerchantCodeError::FieldInvalid { .. } => Kind::Invalid,
                MerchantCodeError::NotPurseCode
                | MerchantCodeError::Unsigned
                | MerchantCodeError::WrongKey { .. }
                | MerchantCodeError::BadSignature
                | MerchantCodeError::Expired { .. } => Kind::Rejected,
                MerchantCodeError::Signer(err) => key_kind(err),
            },
            Failure::Paycode(err) => match err {
                PaycodeError::Invalid { .. }
                | PaycodeError::ValidityInvalid
                | PaycodeError::IssuedAtOutOfRange { .. } => Kind::Invalid,
                PaycodeError::WrongKey { .. }
                | PaycodeError::Tampered
                | PaycodeError::Replayed { .. }
                | PaycodeError::NotYetValid { .. }
                | PaycodeError::Expired { .. }
                | PaycodeError::CurrencyMismatch { .. }
                | PaycodeError::OverLimit { .. } => Kind::Rejected,
                PaycodeError::Signer(err) => key_kind(err),
            },
            Failure::Qr(QrError::TooLong { .. }) => Kind::Invalid,
            Failure::Qr(QrError::Png(_)) => Kind::Internal,
            Failure::CounterStore(_) | Failure::CounterExhausted => Kind::Storage,
            Failure::Client(err) => match err {
                ClientError::Api { .. }
                | ClientError::Network { .. }
                | ClientError::Timeout { .. }
                | ClientError::Response { .. } => Kind::Remote,
                ClientError::NotLoggedIn | ClientError::NoDevice => Kind::Rejected,
                ClientError::Signer(err) => key_kind(err),
                ClientError::SessionStore { .. } => Kind::Storage,
                ClientError::Invalid { .. } => Kind::Invalid,
            },
        }
    }
}

fn key_kind(err: &KeyError) -> Kind {
    match err {
        KeyError::SignatureInvalid | KeyError::BackupWrongPassword => Kind::Rejected,
        KeyError::SignerFailed { .. } => Kind::Signer,
        KeyError::KeyInvalid
        | KeyError::KeyIdInvalid
        | KeyError::SecretKeyInvalid
        | KeyError::PasswordTooShort
        | KeyError::PasswordTooLong
        | KeyError::BackupCorrupted { .. }
        | KeyError::BackupUnsupportedVersion => Kind::Invalid,
    }
}

impl From<Failure> for PurseError {
    fn from(failure: Failure) -> PurseError {
        if let Failure::Client(err) = &failure {
            let code = err.code().to_owned();
            let reason = err.to_string();
            match err {
                ClientError::Api { status, .. } => {
                    return PurseError::Api {
                        code,
                        reason,
                        status: *status,
                    };
                }
                ClientError::Network { .. }
                | ClientError::Timeout { .. }
                | ClientError::Response { .. } => {
                    return PurseError::Network { code, reason };
                }
                _ => {}
            }
        }
        let code = match &failure {
            Failure::Client(err) => err.code().to_owned(),
            other => other.code().to_owned(),
        };
        let reason = failure.to_string();
        match failure.kind() {
            Kind::Remote => PurseError::Internal { code, reason },
            Kind::Invalid => PurseError::Invalid { code, reason },
            Kind::Rejected => PurseError::Rejected { code, reason },
            Kind::Signer => PurseError::Signer { code, reason },
            Kind::Storage => PurseError::Storage { code, reason },
            Kind::Internal => PurseError::Internal { code, reason },
        }
    }
}

/// Runs one exported call: its `Failure` becomes a `PurseError`, and a panic becomes
/// `PurseError::Internal` with code `internal_panic`. uniffi would also catch the panic, but as
/// a generic exception outside `PurseError`; this keeps one error type for apps to handle.
///
/// `AssertUnwindSafe` is sound here because no state a later call relies on can be left half
/// updated: keys are immutable, and `PayCodes`' counter block changes by single assignments (a
/// panic can at worst waste reserved counters, never reuse one).
pub(crate) fn guard<T>(call: impl FnOnce() -> Result<T, Failure>) -> Result<T, PurseError> {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(PurseError::from),
        Err(_) => Err(PurseError::Internal {
            code: "internal_panic".to_owned(),
            reason: "the Purse SDK hit a bug (a Rust panic) and abandoned the call".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal_panic() {
        let err = guard::<()>(|| panic!("boom")).unwrap_err();
        assert!(matches!(err, PurseError::Internal { .. }), "{err:?}");
        assert_eq!(err.code(), "internal_panic");
    }

    #[test]
    fn classification_keeps_core_codes() {
        let wrong = PurseError::from(Failure::Key(KeyError::BackupWrongPassword));
        assert!(matches!(wrong, PurseError::Rejected { .. }), "{wrong:?}");
        assert_eq!(wrong.code(), "backup_wrong_password");

        let corrupted = PurseError::from(Failure::Key(KeyError::BackupCorrupted { reason: "x" }));
        assert!(matches!(corrupted, PurseError::Invalid { .. }));
        assert_eq!(corrupted.code(), "backup_corrupted");

        let signer = PurseError::from(Failure::Paycode(PaycodeError::Signer(
            KeyError::SignerFailed {
                reason: "locked".to_owned(),
            },
        )));
        assert!(matches!(signer, PurseError::Signer { .. }));
        assert_eq!(signer.code(), "signer_failed");
        assert!(signer.to_string().contains("locked"));

        let storage = PurseError::from(Failure::CounterExhausted);
        assert!(matches!(storage, PurseError::Storage { .. }));
        assert_eq!(storage.code(), "counter_exhausted");
    }
}
