//! The actix extractors other areas' handlers take as arguments: [`AuthUser`] (a verified access
//! token) and [`SignedDevice`] (a verified access token plus a verified device signature over the
//! exact body bytes, which it then parses as JSON). They never read the database themselves: they
//! call [`super::Identity`].

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::error::IdentityError;
use super::{Identity, signature};
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

impl<T: DeserializeOwned + 'static> FromRequest for SignedDevice<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<SignedDevice<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        // Reads the body under the app's PayloadConfig limit (413 beyond it).
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            // Cheap checks first: no body is read for a request without a valid token.
            let user = authenticate(&req)?;
            let headers = signature::parse_headers(|name| {
                req.headers().get(name).map(|value| value.as_bytes())
            })?;
            let body = body
                .await
                .map_err(|err| error::problem_for_status(err.as_response_error().status_code()))?;
            let identity = identity_of(&req)?;
            let path_and_query = req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path(), |pq| pq.as_str());
            let device_id = identity
                .check_signed_request(
                    &user,
                    req.method().as_str(),
                    path_and_query,
                    &body,
                    &headers,
                )
                .await?;
            let parsed = serde_json::from_slice::<T>(&body).map_err(|err| {
                ApiError::bad_request("body_invalid", format!("invalid JSON body: {err}"))
            })?;
            Ok(SignedDevice {
                user,
                device_id,
                body: parsed,
                raw_body: body,
            })
        })
    }
}
