//! The identity area's one error type: every way sign-up, login, tokens, devices and device
//! signatures can fail, each with a stable `code()` and the HTTP status it maps to. It never carries
//! a password, a token or a key, so logging or showing any variant leaks nothing.

use actix_web::http::StatusCode;

use crate::error::ApiError;

/// Everything identity can refuse. Storage failures are kept apart in [`IdentityError::Storage`]
/// so the one conversion to the public error can log them and answer a bare 500.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the request needs an email address or a phone number")]
    LoginIdMissing,
    #[error("give either an email address or a phone number, not both")]
    LoginIdAmbiguous,
    #[error("the email address is not valid")]
    EmailInvalid,
    #[error("the phone number is not valid: use E.164, a '+' then 7 to 15 digits")]
    PhoneInvalid,
    #[error("the password is too short: at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("the password is too long: at most {max} characters")]
    PasswordTooLong { max: usize },
    #[error("an account with this email address or phone number already exists")]
    AccountExists,
    #[error("wrong email, phone number or password")]
    CredentialsInvalid,
    #[error("too many failed logins for this account; retry in {retry_after_s} s")]
    LoginBackoff { retry_after_s: u64 },

    #[error("the request needs an 'Authorization: Bearer' access token")]
    TokenMissing,
    #[error("the access token is malformed")]
    TokenMalformed,
    #[error("the access token's algorithm is not accepted (only EdDSA)")]
    TokenAlgorithm,
    #[error("the access token's signature does not verify")]
    TokenSignature,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the access token was issued by someone else")]
    TokenIssuer,
    #[error("the access token is meant for another audience")]
    TokenAudience,

    #[error("the refresh token is not valid")]
    RefreshInvalid,
    #[error("the refresh token has expired")]
    RefreshExpired,
    #[error("the refresh token was already used; its whole session is now revoked")]
    RefreshReused,
    #[error("the session of this refresh token was revoked")]
    RefreshRevoked,

    #[error("the device public key is not a valid Ed25519 key (32 bytes, base64url)")]
    DeviceKeyInvalid,
    #[error("the device name must be 1 to {max} printable characters")]
    DeviceNameInvalid { max: usize },
    #[error("this public key is registered to another device")]
    DeviceKeyTaken,
    #[error("too many devices: at most {max} active devices per user")]
    DeviceLimit { max: usize },
    #[error("no such device")]
    DeviceNotFound,

    #[error("the request needs a device signature: header {header} is missing")]
    SignatureMissing { header: &'static str },
    #[error("the device signature header {header} is malformed")]
    SignatureMalformed { header: &'static str },
    #[error("the device signature timestamp is more than 5 minutes from the server's clock")]
    SignatureStale,
    #[error("the device signature nonce was already used")]
    SignatureReplayed,
    #[error("the device signature does not verify")]
    SignatureInvalid,
    #[error("the signing device is not registered to this user")]
    DeviceUnknown,
    #[error("the signing device was revoked")]
    DeviceRevoked,

    #[error("the server is busy; retry in a moment")]
    Busy,
    #[error("identity storage failed")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("identity internal failure: {0}")]
    Internal(&'static str),
}

impl IdentityError {
    /// Stable snake_case machine code, the `code` of the problem+json body.
    pub fn code(&self) -> &'static str {
        use IdentityError::*;
        match self {
            LoginIdMissing => "login_id_missing",
            LoginIdAmbiguous => "login_id_ambiguous",
            EmailInvalid => "email_invalid",
            PhoneInvalid => "phone_invalid",
            PasswordTooShort { .. } => "password_too_short",
            PasswordTooLong { .. } => "password_too_long",
            AccountExists => "account_exists",
            CredentialsInvalid => "credentials_invalid",
            LoginBackoff { .. } => "login_backoff",
            TokenMissing => "token_missing",
            TokenMalformed => "token_malformed",
            TokenAlgorithm => "token_algorithm_rejected",
            TokenSignature => "token_signature_invalid",
            TokenExpired => "token_expired",
            TokenIssuer => "token_issuer_invalid",
            TokenAudience => "token_audience_invalid",
            RefreshInvalid => "refresh_token_invalid",
            RefreshExpired => "refresh_token_expired",
            RefreshReused => "refresh_token_reused",
            RefreshRevoked => "refresh_token_revoked",
            DeviceKeyInvalid => "device_key_invalid",
            DeviceNameInvalid { .. } => "device_name_invalid",
            DeviceKeyTaken => "device_key_taken",
            DeviceLimit { .. } => "device_limit_reached",
            // The same code as every other missing (or someone else's) resource.
            DeviceNotFound => "not_found",
            SignatureMissing { .. } => "device_signature_missing",
            SignatureMalformed { .. } => "device_signature_malformed",
            SignatureStale => "device_signature_stale",
            SignatureReplayed => "device_signature_replayed",
            SignatureInvalid => "device_signature_invalid",
            DeviceUnknown => "device_unknown",
            DeviceRevoked => "device_revoked",
            Busy => "server_busy",
            Storage(_) | Internal(_) => "internal_error",
        }
    }

    /// The HTTP status this failure answers with.
    pub fn status(&self) -> u16 {
        use IdentityError::*;
        match self {
            LoginIdMissing
            | LoginIdAmbiguous
            | EmailInvalid
            | PhoneInvalid
            | PasswordTooShort { .. }
            | PasswordTooLong { .. }
            | DeviceKeyInvalid
            | DeviceNameInvalid { .. } => 400,
            AccountExists | DeviceKeyTaken | DeviceLimit { .. } => 409,
            LoginBackoff { .. } => 429,
            DeviceNotFound => 404,
            CredentialsInvalid
            | TokenMissing
            | TokenMalformed
            | TokenAlgorithm
            | TokenSignature
            | TokenExpired
            | TokenIssuer
            | TokenAudience
            | RefreshInvalid
            | RefreshExpired
            | RefreshReused
            | RefreshRevoked
            | SignatureMissing { .. }
            | SignatureMalformed { .. }
            | SignatureStale
            | SignatureReplayed
            | SignatureInvalid
            | DeviceUnknown
            | DeviceRevoked => 401,
            Busy => 503,
            Storage(_) | Internal(_) => 500,
        }
    }

    /// Seconds a client must wait before retrying, for the `Retry-After` header.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            IdentityError::LoginBackoff { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }

    /// Wraps a storage failure; the source is logged by the public conversion, never shown.
    pub fn storage(err: impl std::error::Error + Send + Sync + 'static) -> IdentityError {
        IdentityError::Storage(Box::new(err))
    }
}

impl From<IdentityError> for ApiError {
    /// The one conversion to the public error: storage and internal failures are logged (by
    /// [`ApiError::internal`]) and answered as a bare 500; everything else keeps its code and its
    /// message, which never holds a secret.
    fn from(err: IdentityError) -> ApiError {
        let status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match err {
            IdentityError::Storage(source) => {
                ApiError::internal(format_args!("identity storage: {source}"))
            }
            IdentityError::Internal(what) => ApiError::internal(what),
            IdentityError::DeviceNotFound => ApiError::not_found("device"),
            other => {
                let title = match status {
                    StatusCode::BAD_REQUEST => "Bad request",
                    StatusCode::UNAUTHORIZED => "Unauthorized",
                    StatusCode::CONFLICT => "Conflict",
                    StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                    StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
                    _ => "Request refused",
                };
                ApiError::new(status, other.code(), title).detail(other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_401s_are_distinct() {
        let all = [
            IdentityError::TokenMissing,
            IdentityError::TokenMalformed,
            IdentityError::TokenAlgorithm,
            IdentityError::TokenSignature,
            IdentityError::TokenExpired,
            IdentityError::TokenIssuer,
            IdentityError::TokenAudience,
            IdentityError::RefreshReused,
            IdentityError::SignatureStale,
            IdentityError::SignatureReplayed,
            IdentityError::SignatureInvalid,
            IdentityError::DeviceRevoked,
            IdentityError::DeviceUnknown,
        ];
        let mut codes: Vec<&str> = all.iter().map(IdentityError::code).collect();
        for code in &codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
        for err in &all {
            assert_eq!(err.status(), 401, "{}", err.code());
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn backoff_carries_retry_after() {
        let err = IdentityError::LoginBackoff { retry_after_s: 8 };
        assert_eq!(err.status(), 429);
        assert_eq!(err.retry_after_s(), Some(8));
        assert_eq!(IdentityError::TokenExpired.retry_after_s(), None);
    }
}
