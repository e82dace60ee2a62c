//! The actix extractors other areas' handlers take as arguments: [`AuthUser`] (a verified access
//! token), [`SignedDevice`] (a verified access token plus a verified device signature over the
//! exact body bytes, which it then parses as JSON; its nonce recorded) and
//! [`SignedDeviceDeferred`] (the same with the nonce left for the handler to record). They never
//! read the database themselves: they call [`super::Identity`].

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::IdentityError;
use super::{DeviceNonce, Identity, signature};
use crate::app::AppState;
use crate::error::{self, ApiError};

/// The user of a request, from a valid `Authorization: Bearer` access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// `usr_…`
    pub user_id: String,
    /// The login session (refresh-token family) the token was issued under.
    pub session_id: String,
}

/// A request signed by one of the user's devices (see docs/formats.md, "Device request
/// signature"), with its body parsed as `T` from the very bytes that were signed.
#[derive(Debug)]
pub struct SignedDevice<T> {
    pub user: AuthUser,
    /// `dev_…` of the signing device.
    pub device_id: String,
    pub body: T,
    /// The raw body, e.g. for an idempotency fingerprint.
    pub raw_body: web::Bytes,
}

fn identity_of(req: &HttpRequest) -> Result<Arc<Identity>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|state| state.identity.clone())
        .ok_or_else(|| ApiError::internal("AppState is not registered on this route"))
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235).
fn bearer_token(req: &HttpRequest) -> Result<&str, IdentityError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(IdentityError::TokenMissing)?;
    let value = value.to_str().map_err(|_| IdentityError::TokenMalformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(IdentityError::TokenMalformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(IdentityError::TokenMalformed);
    }
    Ok(token.trim())
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let identity = identity_of(req)?;
    let token = bearer_token(req)?;
    Ok(identity.authenticate(token)?)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<AuthUser, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// `Option<AuthUser>`-like: the user when an Authorization header is present and valid, `None`
/// when there is none; a present but invalid token is still an error.
pub(super) fn optional_user(req: &HttpRequest) -> Result<Option<AuthUser>, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        authenticate(req).map(Some)
    } else {
        Ok(None)
    }
}

/// [`SignedDevice`] whose nonce is not recorded yet, for a handler that records it in the database
/// transaction of the money it signs for (P2P transfers: `ledger::Outbox::nonce`), which saves the
/// request a commit of its own. The handler must record `nonce` before it answers, on every path:
/// in that transaction, or with [`Identity::record_nonce`] when the money did not move with it;
/// a replayed nonce is then `device_signature_replayed`, as [`SignedDevice`] would have answered.
#[derive(Debug)]
pub struct SignedDeviceDeferred<T> {
    pub signed: SignedDevice<T>,
    pub nonce: DeviceNonce,
}

/// Authenticates, reads the body, verifies the signature and parses the body; the nonce is left
/// to the caller.
async fn extract_signed<T: DeserializeOwned>(
    req: HttpRequest,
    body: impl std::future::Future<Output = Result<web::Bytes, actix_web::Error>>,
) -> Result<(SignedDevice<T>, DeviceNonce, Arc<Identity>), ApiError> {
    // Cheap checks first: no body is read for a request without a valid token.
    let user = authenticate(&req)?;
    let headers =
        signature::parse_headers(|name| req.headers().get(name).map(|value| value.as_bytes()))?;
    let body = body
        .await
        .map_err(|err| error::problem_for_status(err.as_response_error().status_code()))?;
    let identity = identity_of(&req)?;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |pq| pq.as_str());
    let nonce = identity
        .verify_signed_request(
            &user,
            req.method().as_str(),
            path_and_query,
            &body,
            &headers,
        )
        .await?;
    let parsed = serde_json::from_slice::<T>(&body)
        .map_err(|err| ApiError::bad_request("body_invalid", format!("invalid JSON body: {err}")));
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            // The signature holds: its nonce is spent even though the body is unusable.
            identity.record_nonce(nonce).await?;
            return Err(err);
        }
    };
    let signed = SignedDevice {
        user,
        device_id: nonce.device_id.clone(),
        body: parsed,
        raw_body: body,
    };
    Ok((signed, nonce, identity))
}

impl<T: DeserializeOwned + 'static> FromRequest for SignedDevice<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<SignedDevice<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Reads the body under the app's PayloadConfig limit (413 beyond it).
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let (signed, nonce, identity) = extract_signed(req, body).await?;
            identity.record_nonce(nonce).await?;
            Ok(signed)
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for SignedDeviceDeferred<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<SignedDeviceDeferred<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let (signed, nonce, _) = extract_signed(req, body).await?;
            Ok(SignedDeviceDeferred { signed, nonce })
        })
    }
}
