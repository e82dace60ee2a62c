//! Identity wire types: sign-up, login, token refresh, devices, and the device request signature
//! that the server checks and the SDK produces. Plain serde structs and one pure function; it never
//! validates business rules (the server does) and never touches a network or a key store.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `POST /v1/auth/signup`. At least one of `email` and `phone` (E.164, `+` and digits; spaces,
/// dashes, dots and parentheses are ignored) is required.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub password: String,
}

/// `POST /v1/auth/login`. Exactly one of `email` and `phone`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub password: String,
}

/// `POST /v1/auth/refresh`: trade a refresh token for a new token pair. The old refresh token is
/// spent; presenting it again revokes every token of its family.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/auth/logout`: revokes the refresh-token family named by `refresh_token`, or, without
/// a body, the family of the bearer access token.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// A user as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// `usr_…`
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// The answer to sign-up, login and refresh.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// `usr_…` of the authenticated user.
    pub user_id: String,
    /// A JWT (EdDSA); send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; spend it once at `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// `POST /v1/devices`: register this phone's Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    /// 32-byte Ed25519 public key, base64url without padding (43 characters).
    pub public_key: String,
    /// A label the user recognises, e.g. "Ana's Pixel"; at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A registered device. The server never holds a device's secret key. `GET /v1/devices` answers
/// a [`super::Page`] of these (a user has at most a few, so always one page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// `dev_…`, sent in the `Purse-Device-Id` header of signed requests.
    pub id: String,
    /// base64url without padding.
    pub public_key: String,
    /// 16 lowercase hex digits: the first 8 bytes of SHA-256 of the public key.
    pub key_id: String,
    pub name: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; a revoked device can sign nothing.
    pub revoked_at_ms: Option<i64>,
}

/// Public key of the server's access-token signing key (`GET /v1/auth/keys`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenKey {
    /// Always `EdDSA`.
    pub alg: String,
    /// The JWT header `kid`: 16 lowercase hex digits.
    pub kid: String,
    /// 32-byte Ed25519 public key, base64url without padding.
    pub public_key: String,
}

// Secrets never reach a log through `{:?}`: these bodies print their non-secret fields only.

impl std::fmt::Debug for SignupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupRequest")
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = self.refresh_token.as_ref().map(|_| "<redacted>");
        f.debug_struct("LogoutRequest")
            .field("refresh_token", &token)
            .finish()
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"<redacted>")
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

// --- Device request signature (specified byte for byte in docs/formats.md) ----------------------

/// Header carrying the `dev_…` id of the signing device.
pub const HEADER_DEVICE_ID: &str = "Purse-Device-Id";
/// Header carrying the signing time, unix milliseconds in decimal.
pub const HEADER_TIMESTAMP: &str = "Purse-Timestamp";
/// Header carrying a fresh random nonce (16 to 64 characters of `A-Z a-z 0-9 - _`).
pub const HEADER_NONCE: &str = "Purse-Nonce";
/// Header carrying the Ed25519 signature, base64url without padding (86 characters).
pub const HEADER_SIGNATURE: &str = "Purse-Signature";
/// First line of every signed message; a new format gets a new tag, never a silent change.
pub const DEVICE_SIGNATURE_TAG: &str = "purse-device-signature-v1";
/// How far a request's timestamp may be from the server's clock, either way.
pub const DEVICE_SIGNATURE_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Nonce length bounds, in characters.
pub const NONCE_CHARS_MIN: usize = 16;
pub const NONCE_CHARS_MAX: usize = 64;

/// A fresh device-signature nonce: 16 random bytes, base64url without padding (22 characters of
/// `A-Z a-z 0-9 - _`, within [`NONCE_CHARS_MIN`]..=[`NONCE_CHARS_MAX`]).
pub fn new_nonce() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

/// The exact bytes a device signs for one request: seven lines joined by `\n` (no trailing
/// newline): the tag, the method, the path with query exactly as on the request line, the
/// lowercase hex SHA-256 of the body bytes, the timestamp, the nonce and the device id.
///
/// No field can contain `\n` (each is a token, digits, hex, or a request target, which HTTP forbids
/// to hold a raw line feed), so the joining is unambiguous.
pub fn device_signature_message(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: &str,
    device_id: &str,
) -> Vec<u8> {
    let body_sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(body));
    let timestamp = timestamp_ms.to_string();
    let fields = [
        DEVICE_SIGNATURE_TAG,
        method,
        path_and_query,
        &body_sha256,
        &timestamp,
        nonce,
        device_id,
    ];
    let len = fields.iter().map(|f| f.len() + 1).sum::<usize>();
    let mut message = Vec::with_capacity(len);
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            message.push(b'\n');
        }
        message.extend_from_slice(field.as_bytes());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_seven_lines_in_order() {
        let message = device_signature_message("POST", "/v1/x?a=1", b"", 42, "nonce", "dev_1");
        let text = String::from_utf8(message).unwrap();
        assert_eq!(
            text,
            "purse-device-signature-v1\nPOST\n/v1/x?a=1\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n42\nnonce\ndev_1"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let login = LoginRequest {
            email: Some("a@b.co".into()),
            phone: None,
            password: "hunter2 hunter2".into(),
        };
        let text = format!("{login:?}");
        assert!(
            text.contains("a@b.co") && !text.contains("hunter2"),
            "{text}"
        );
        let logout = LogoutRequest {
            refresh_token: Some("rt_secret".into()),
        };
        assert!(!format!("{logout:?}").contains("rt_secret"));
        let signup = SignupRequest {
            email: None,
            phone: Some("+14155550100".into()),
            password: "hunter2 hunter2".into(),
        };
        assert!(!format!("{signup:?}").contains("hunter2"));
        let refresh = RefreshRequest {
            refresh_token: "rt_secret".into(),
        };
        assert!(!format!("{refresh:?}").contains("rt_secret"));
    }

    #[test]
    fn body_change_changes_message() {
        let a = device_signature_message("POST", "/", b"{\"a\":1}", 1, "n", "d");
        let b = device_signature_message("POST", "/", b"{\"a\":2}", 1, "n", "d");
        assert_ne!(a, b);
    }
}
