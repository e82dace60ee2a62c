//! Identity HTTP handlers under `/v1`: sign-up, login, refresh, logout, the token key, the current
//! user, and devices. Each extracts, calls one [`super::Identity`] method and maps the answer; no
//! rule and no SQL lives here. Also the OpenAPI fragment of these routes.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use purse_core::api::identity::{
    Device, LoginRequest, LogoutRequest, RefreshRequest, RegisterDeviceRequest, SignupRequest,
    TokenKey, TokenResponse, User,
};
use purse_core::api::{Page, Problem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::IdentityError;
use super::extract::{AuthUser, optional_user};
use crate::app::AppState;
use crate::error::ApiError;

/// Registers the identity routes on the `/v1` scope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/signup", web::post().to(signup))
        .route("/auth/login", web::post().to(login))
        .route("/auth/refresh", web::post().to(refresh))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/keys", web::get().to(token_keys))
        .route("/me", web::get().to(me))
        .service(
            web::resource("/devices")
                .route(web::post().to(register_device))
                .route(web::get().to(list_devices)),
        )
        .route("/devices/{device_id}", web::get().to(get_device))
        .route("/devices/{device_id}/revoke", web::post().to(revoke_device));
}

/// An error answer that keeps the back-off's own `Retry-After` (the generic one says 1 s).
fn error_response(err: IdentityError) -> HttpResponse {
    let retry_after_s = err.retry_after_s();
    let api: ApiError = err.into();
    let mut response = api.error_response();
    if let Some(seconds) = retry_after_s {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Create an account with an email address or a phone number and a password; the answer logs
/// the new user in.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "identity", request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created and logged in", body = TokenResponse),
        (status = 400, description = "Invalid email, phone or password (`email_invalid`, `phone_invalid`, `password_too_short`, ...)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`account_exists`", body = Problem, content_type = "application/problem+json")))]
pub async fn signup(
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = state.identity.signup(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(tokens))
}

/// Log in. After repeated failures for one account the answer is 429 with a growing
/// `Retry-After`, whatever the password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "`credentials_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`login_backoff`; wait `Retry-After` seconds", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn login(state: web::Data<AppState>, body: web::Json<LoginRequest>) -> HttpResponse {
    match state.identity.login(body.into_inner()).await {
        Ok(tokens) => HttpResponse::Ok().json(tokens),
        Err(err) => error_response(err),
    }
}

/// Trade a refresh token for a new pair. Each refresh token works once; presenting a spent one
/// revokes the whole session (`refresh_token_reused`).
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenResponse),
        (status = 401, description = "`refresh_token_invalid`, `refresh_token_expired`, `refresh_token_reused`, `refresh_token_revoked`", body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    Ok(web::Json(
        state.identity.refresh(&body.refresh_token).await?,
    ))
}

/// End a session: the one of the refresh token in the body, or, with an empty body, the one of
/// the bearer access token. Every refresh token of the session stops working.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "identity",
    request_body(content = LogoutRequest, description = "Optional: the refresh token of the session to end"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 400, description = "`body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`refresh_token_invalid` or a `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::bad_request("body_invalid", format!("invalid JSON body: {err}"))
        })?
    };
    let user = optional_user(&req)?;
    state
        .identity
        .logout(user.as_ref(), request.refresh_token.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The public key that signs access tokens, for services that verify them.
#[utoipa::path(get, path = "/v1/auth/keys", tag = "identity",
    responses((status = 200, description = "The access-token public key", body = TokenKey)))]
pub async fn token_keys(state: web::Data<AppState>) -> web::Json<TokenKey> {
    web::Json(state.identity.token_key())
}

/// The logged-in user.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user of the access token", body = User),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<web::Json<User>, ApiError> {
    Ok(web::Json(state.identity.user(&user.user_id).await?))
}

/// Register this phone's Ed25519 public key. Registering the same key again answers the existing
/// device with 200.
#[utoipa::path(post, path = "/v1/devices", tag = "identity", request_body = RegisterDeviceRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Device registered", body = Device),
        (status = 200, description = "This key was already registered by this user", body = Device),
        (status = 400, description = "`device_key_invalid`, `device_name_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`device_key_taken`, `device_limit_reached`", body = Problem, content_type = "application/problem+json")))]
pub async fn register_device(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<RegisterDeviceRequest>,
) -> Result<HttpResponse, ApiError> {
    let (device, created) = state
        .identity
        .register_device(&user.user_id, body.into_inner())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(device))
}

/// The user's devices, newest first, revoked ones included (with `revoked_at_ms`).
#[utoipa::path(get, path = "/v1/devices", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, description = "All of the user's devices (one page)", body = Page<Device>),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn list_devices(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<web::Json<Page<Device>>, ApiError> {
    let data = state.identity.devices(&user.user_id).await?;
    Ok(web::Json(Page {
        data,
        has_more: false,
    }))
}

/// One of the user's devices.
#[utoipa::path(get, path = "/v1/devices/{device_id}", tag = "identity", security(("bearer" = [])),
    params(("device_id" = String, Path, description = "`dev_…`")),
    responses(
        (status = 200, description = "The device", body = Device),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such device of this user", body = Problem, content_type = "application/problem+json")))]
pub async fn get_device(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Device>, ApiError> {
    Ok(web::Json(
        state.identity.device(&user.user_id, &path).await?,
    ))
}

/// Revoke a device (a lost or replaced phone): it can sign nothing any more. Revoking twice is
/// harmless.
#[utoipa::path(post, path = "/v1/devices/{device_id}/revoke", tag = "identity", security(("bearer" = [])),
    params(("device_id" = String, Path, description = "`dev_…`")),
    responses(
        (status = 200, description = "The revoked device", body = Device),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such device of this user", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_device(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Device>, ApiError> {
    Ok(web::Json(
        state.identity.revoke_device(&user.user_id, &path).await?,
    ))
}

/// Declares the `bearer` security scheme the annotations above refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
    }
}

/// The identity part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(signup, login, refresh, logout, token_keys, me, register_device, list_devices, get_device, revoke_device),
    components(schemas(
        SignupRequest, LoginRequest, RefreshRequest, LogoutRequest, TokenResponse, TokenKey, User,
        RegisterDeviceRequest, Device, Problem
    )),
    modifiers(&BearerScheme),
    tags((name = "identity", description = "Sign-up, login, tokens and devices")),
)]
pub struct Api;
