//! Webhook HTTP handlers under `/v1/merchants/{id}/webhook` (the merchant's owner only) and their
//! OpenAPI fragment. Each checks ownership through the merchants area, makes one call and maps
//! the answer; no rule and no SQL lives here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use purse_core::api::webhooks::{SetWebhookRequest, WebhookAttempt, WebhookEndpoint};
use purse_core::api::{Page, PageQuery, Problem};
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::ApiError;
use crate::identity::AuthUser;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/merchants/{merchant_id}/webhook")
            .route(web::put().to(set_webhook))
            .route(web::get().to(get_webhook))
            .route(web::delete().to(delete_webhook)),
    )
    .route(
        "/merchants/{merchant_id}/webhook/rotate",
        web::post().to(rotate_webhook_secret),
    )
    .route(
        "/merchants/{merchant_id}/webhook/deliveries",
        web::get().to(webhook_deliveries),
    );
}

/// The merchant id of the path if `user` owns it; 404 otherwise.
async fn owned(state: &AppState, user: &AuthUser, merchant_id: &str) -> Result<(), ApiError> {
    state.merchants.owned(&user.user_id, merchant_id).await?;
    Ok(())
}

/// Set the merchant's webhook URL. The first time, the answer (201) holds the signing secret,
/// shown only this once; later calls change the URL, keep the secret and answer 200. Every
/// event of the merchant published from then on is POSTed there, signed (docs/formats.md,
/// "Webhook signature").
#[utoipa::path(put, path = "/v1/merchants/{merchant_id}/webhook", tag = "webhooks",
    security(("bearer" = [])), request_body = SetWebhookRequest,
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 201, description = "Created; `secret` is shown once", body = WebhookEndpoint),
        (status = 200, description = "URL changed; the secret is unchanged", body = WebhookEndpoint),
        (status = 400, description = "`webhook_url_invalid`, `body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such merchant of yours", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`webhook_url_forbidden`: a loopback, private or link-local address", body = Problem, content_type = "application/problem+json")))]
pub async fn set_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SetWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    owned(&state, &user, &path).await?;
    let (endpoint, created) = state.webhooks.set(&path, &body.url).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status)
        .insert_header(("cache-control", "no-store"))
        .json(endpoint))
}

/// The merchant's webhook (without its secret).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/webhook", tag = "webhooks",
    security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The webhook", body = WebhookEndpoint),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such merchant of yours, or no webhook", body = Problem, content_type = "application/problem+json")))]
pub async fn get_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<WebhookEndpoint>, ApiError> {
    owned(&state, &user, &path).await?;
    Ok(web::Json(state.webhooks.get(&path).await?))
}

/// Remove the webhook. Deliveries not yet made are given up.
#[utoipa::path(delete, path = "/v1/merchants/{merchant_id}/webhook", tag = "webhooks",
    security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    owned(&state, &user, &path).await?;
    state.webhooks.delete(&path).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make a new signing secret (shown once in the answer). For 24 hours deliveries carry a
/// signature with the new and one with the old secret, so the receiver can switch without loss.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/webhook/rotate", tag = "webhooks",
    security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "Rotated; `secret` is the new one, shown once", body = WebhookEndpoint),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    owned(&state, &user, &path).await?;
    let endpoint = state.webhooks.rotate(&path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(endpoint))
}

/// The delivery log: one line per attempt, newest first (event, attempt number, the receiver's
/// status, the error, and when the next retry is due).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/webhook/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`"), PageQuery),
    responses(
        (status = 200, description = "One page of attempts", body = Page<WebhookAttempt>),
        (status = 400, description = "`limit_invalid`, `starting_after_invalid`, `query_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn webhook_deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<WebhookAttempt>>, ApiError> {
    owned(&state, &user, &path).await?;
    let page = state
        .webhooks
        .attempts(&path, query.limit, query.starting_after.as_deref())
        .await?;
    Ok(web::Json(page))
}

#[derive(OpenApi)]
#[openapi(
    paths(set_webhook, get_webhook, delete_webhook, rotate_webhook_secret, webhook_deliveries),
    components(schemas(SetWebhookRequest, WebhookEndpoint, WebhookAttempt, Problem)),
    tags((name = "webhooks", description = "Merchant webhooks: signed deliveries of a merchant's events")),
)]
pub struct Api;
