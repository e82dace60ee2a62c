//! The operator's HTTP surface of the ledger: `POST /v1/admin/fund`, guarded by the operator token
//! (`admin_token` / `PURSE_ADMIN_TOKEN`). Without a configured token the route does not exist
//! (404), so a zero-configuration server exposes no operator API. Handlers only extract, check the
//! token, call the ledger once and map the answer.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use purse_core::api::ledger::{AdminFundRequest, AdminFundResponse};
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::money::{format_minor, parse_amount};
use super::{AccountKind, LedgerError};
use crate::app::AppState;
use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    paths(fund),
    components(schemas(AdminFundRequest, AdminFundResponse)),
    tags((name = "admin", description = "Operator endpoints; off unless an operator token is configured")),
    modifiers(&AdminTokenScheme),
)]
pub struct Api;

/// Declares the `admin_token` security scheme `fund` refers to.
struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token (PURSE_ADMIN_TOKEN)"))
                    .build(),
            ),
        );
    }
}

/// The admin routes exist only when an operator token is configured: otherwise every request to
/// them, whatever its body, is the ordinary `route_not_found`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let enabled = actix_web::guard::fn_guard(|ctx| {
        ctx.app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.config.admin_token.is_some())
    });
    cfg.route("/admin/fund", web::post().guard(enabled).to(fund));
}

/// Parses a JSON body read as bytes (so authorization can come before parsing), with the same
/// problems as the `web::Json` extractor.
fn parse_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        )
        .detail("the body must be JSON with Content-Type: application/json"));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::bad_request("body_invalid", format!("invalid JSON body: {err}")))
}

/// Checks `Authorization: Bearer <admin token>`. Digests are compared so the comparison time does
/// not depend on how much of the token a caller guessed right.
pub(crate) fn authorize(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = state.config.admin_token.as_deref() else {
        return Err(
            ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "Not found").detail(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            )),
        );
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin_token_invalid",
            "Unauthorized",
        )
        .detail("a valid operator token is required: Authorization: Bearer <token>"))
    }
}

/// Credit a wallet from the issuance account of its currency (operator funding).
#[utoipa::path(post, path = "/v1/admin/fund", tag = "admin",
    request_body = AdminFundRequest,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Funded", body = AdminFundResponse),
        (status = 400, description = "Malformed amount or body", body = purse_core::api::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong operator token", body = purse_core::api::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such wallet, or the admin API is off", body = purse_core::api::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The reference was used for a different transfer", body = purse_core::api::Problem, content_type = "application/problem+json"),
    ))]
pub async fn fund(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<web::Json<AdminFundResponse>, ApiError> {
    // The token first: an unauthorized caller learns nothing about what a valid body looks like.
    authorize(&state, &req)?;
    let body = parse_json::<AdminFundRequest>(&req, &body)?;
    let ledger = &state.ledger;
    let wallet = ledger
        .account(&body.wallet_id)
        .await?
        .filter(|account| account.kind == AccountKind::Wallet)
        .ok_or(LedgerError::AccountNotFound(body.wallet_id.clone()))?;
    let amount_minor = parse_amount(&body.amount, &wallet.currency)?;
    let posted = ledger
        .fund(&wallet.id, amount_minor, body.reference)
        .await?;
    Ok(web::Json(AdminFundResponse {
        transfer_id: posted.transfer.id,
        wallet_id: wallet.id,
        amount: format_minor(amount_minor, &wallet.currency),
        balance: format_minor(posted.credit_balance_minor, &wallet.currency),
        currency: wallet.currency,
    }))
}
