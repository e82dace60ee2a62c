//! `GET /v1/admin/risk-rejections`: the operator's list of payments and charges the risk rules
//! refused, guarded by the operator token like `/v1/admin/fund` (absent without a token).

use actix_web::{HttpRequest, web};
use purse_core::api::payments::RiskRejection;
use purse_core::api::{Page, PageQuery, Problem};
use utoipa::OpenApi;

use super::RiskError;
use crate::app::AppState;
use crate::error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let enabled = actix_web::guard::fn_guard(|ctx| {
        ctx.app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.config.admin_token.is_some())
    });
    cfg.route(
        "/admin/risk-rejections",
        web::get().guard(enabled).to(list_rejections),
    );
}

impl From<RiskError> for ApiError {
    fn from(err: RiskError) -> ApiError {
        match err {
            RiskError::Refused(rule) => ApiError::unprocessable(rule.code(), rule.describe()),
            RiskError::Storage(err) => ApiError::internal(format_args!("risk: {err}")),
        }
    }
}

/// Payments and charges refused by a risk rule, newest first (cursor-paginated).
#[utoipa::path(get, path = "/v1/admin/risk-rejections", tag = "admin",
    security(("admin_token" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of rejections", body = Page<RiskRejection>),
        (status = 400, description = "`limit_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`admin_token_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The admin API is off", body = Problem, content_type = "application/problem+json")))]
pub async fn list_rejections(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<RiskRejection>>, ApiError> {
    crate::ledger::http::authorize(&state, &req)?;
    let limit = query
        .limit_checked()
        .ok_or_else(|| ApiError::bad_request("limit_invalid", "limit must be 1 to 100"))?;
    let (data, has_more) = state
        .risk
        .rejections(query.starting_after.as_deref(), i64::from(limit))
        .await?;
    Ok(web::Json(Page { data, has_more }))
}

#[derive(OpenApi)]
#[openapi(paths(list_rejections), components(schemas(RiskRejection)))]
pub struct Api;
