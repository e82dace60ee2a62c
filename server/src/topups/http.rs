//! Top-up HTTP handlers (`/v1/topups`) and the provider webhook endpoint
//! (`/v1/providers/sandbox/webhooks`), with their OpenAPI fragment. Each extracts, validates,
//! makes one call and maps the answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::Problem;
use purse_core::api::topups::{CreateTopUpRequest, NextAction, TopUp};
use utoipa::OpenApi;

use super::NewTopUp;
use crate::app::AppState;
use crate::error::ApiError;
use crate::idempotency::{Answer, Fingerprint, IdempotencyKey};
use crate::identity::{AuthUser, SignedDevice};
use crate::providers::SIGNATURE_HEADER;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/topups", web::post().to(create_topup))
        .route("/topups/{topup_id}", web::get().to(get_topup))
        .route(
            "/providers/sandbox/webhooks",
            web::post().to(sandbox_webhook),
        );
}

/// Top up one of your wallets through the payment provider.
///
/// Answers a `pending` top-up whose `next_action.url` is the provider's confirm page (like 3-D
/// Secure). The wallet is credited once the provider reports the capture (webhook); watch
/// `GET /v1/topups/{id}` or the `topup.succeeded` / `topup.failed` events. Device-signed and
/// idempotent like `/v1/transfers`.
#[utoipa::path(post, path = "/v1/topups", tag = "topups", security(("bearer" = [])),
    request_body = CreateTopUpRequest,
    params(
        ("Idempotency-Key" = String, Header, description = "Required: 1 to 128 visible ASCII characters"),
        ("Purse-Device-Id" = String, Header, description = "The signing device (`dev_...`)"),
        ("Purse-Timestamp" = String, Header, description = "Unix milliseconds"),
        ("Purse-Nonce" = String, Header, description = "Unique per request"),
        ("Purse-Signature" = String, Header, description = "Ed25519 signature, base64url"),
    ),
    responses(
        (status = 201, description = "The pending top-up and its next action", body = TopUp),
        (status = 400, description = "`method_invalid`, `amount_invalid` (and the other amount codes), `idempotency_key_missing`, `body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` or `signature_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: not one of your wallets", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`provider_unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json")))]
pub async fn create_topup(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed: SignedDevice<CreateTopUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::required(req.headers())?;
    let new = NewTopUp::validate(&signed.body)?;
    let fingerprint = Fingerprint::of("POST", "/v1/topups", &signed.body);
    let user_id = &signed.user.user_id;
    state
        .idempotency
        .run(user_id, &key, fingerprint, || async {
            let topup = state.topups.create(user_id, new).await?;
            Ok(Answer::json(StatusCode::CREATED, &topup))
        })
        .await
}

/// One of your top-ups. Anyone else's is a 404, like a missing one.
#[utoipa::path(get, path = "/v1/topups/{topup_id}", tag = "topups", security(("bearer" = [])),
    params(("topup_id" = String, Path, description = "`top_...`")),
    responses(
        (status = 200, description = "The top-up", body = TopUp),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_topup(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<TopUp>, ApiError> {
    Ok(web::Json(state.topups.get(&user.user_id, &path).await?))
}

/// Webhooks from the sandbox acquirer, signed `Sandbox-Signature: t=...,v1=...` (docs/formats.md).
///
/// Duplicates are acknowledged and change nothing; unknown event types are acknowledged and
/// ignored; the top-up moves to the intent's state as the provider reports it when asked.
#[utoipa::path(post, path = "/v1/providers/sandbox/webhooks", tag = "topups",
    params(("Sandbox-Signature" = String, Header, description = "`t=<unix s>,v1=<hex HMAC-SHA256>`, one or more v1")),
    responses(
        (status = 200, description = "`{\"received\": true, \"outcome\": \"applied\"|\"duplicate\"|\"ignored\"}`"),
        (status = 400, description = "`webhook_signature_missing`, `webhook_signature_malformed`, `webhook_signature_invalid`, `webhook_timestamp_out_of_tolerance`, `webhook_body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`provider_unavailable`: the intent could not be fetched; the provider retries", body = Problem, content_type = "application/problem+json")))]
pub async fn sandbox_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let outcome = state.topups.webhook(signature, &body).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "received": true,
        "outcome": outcome.as_str(),
    })))
}

#[derive(OpenApi)]
#[openapi(
    paths(create_topup, get_topup, sandbox_webhook),
    components(schemas(CreateTopUpRequest, TopUp, NextAction, Problem)),
    tags((name = "topups", description = "Money in through payment providers")),
)]
pub struct Api;
