//! The sandbox acquirer's HTTP surface, mounted under `/sandbox` (docs/api.md, "Sandbox
//! acquirer"). Provider API calls (`/sandbox/v1/...`), chargebacks and the admin switches need
//! `Authorization: Bearer <sandbox api_key>`; the payer's confirm page does not. Not part of the
//! Purse API, so not in `/openapi.json`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{Faults, Sandbox};
use crate::error::ApiError;
use crate::providers::NewIntent;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/intents", web::post().to(create_intent))
        .route("/v1/intents/{id}", web::get().to(get_intent))
        .route(
            "/v1/settlement-reports/{date}",
            web::get().to(settlement_report),
        )
        .route("/intents/{id}/confirm", web::get().to(confirm_page))
        .route("/intents/{id}/confirm", web::post().to(confirm))
        .route("/intents/{id}/chargeback", web::post().to(chargeback))
        .route("/admin/faults", web::get().to(get_faults))
        .route("/admin/faults", web::post().to(set_faults))
        .route("/admin/deliveries", web::get().to(deliveries));
}

fn check_key(sandbox: &Sandbox, req: &HttpRequest) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if sandbox.authorized(given) {
        Ok(())
    } else {
        Err(ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "sandbox_api_key_invalid",
            "Unauthorized",
        )
        .detail("the sandbox API key is missing or wrong"))
    }
}

async fn create_intent(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    body: web::Json<NewIntent>,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    let intent = sandbox.create(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(intent))
}

async fn get_intent(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    Ok(HttpResponse::Ok().json(sandbox.get(&id).await?))
}

/// The payer's confirm page (like a 3-D Secure challenge): two buttons.
async fn confirm_page(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let intent = sandbox.get(&id).await?;
    let unit = purse_core::money::Currency::from_code(&intent.currency)
        .map_err(|_| ApiError::internal("sandbox intent with an unknown currency"))?;
    let amount = purse_core::money::format_minor(intent.amount_minor, unit);
    // Ids and amounts are [a-z0-9_.]: nothing here needs HTML escaping.
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sandbox acquirer</title></head>\
         <body><h1>Confirm {amount} {currency}</h1><p>Intent {id} ({method}), status {status}.</p>\
         <form method=\"post\" action=\"confirm\"><input type=\"hidden\" name=\"outcome\" value=\"approve\">\
         <button>Approve</button></form>\
         <form method=\"post\" action=\"confirm\"><input type=\"hidden\" name=\"outcome\" value=\"decline\">\
         <button>Decline</button></form></body></html>",
        currency = intent.currency,
        id = intent.id,
        method = intent.method,
        status = intent.status,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    /// `approve` or `decline`.
    outcome: String,
}

/// Confirms with `{"outcome":"approve"|"decline"}` (JSON) or the page's form.
async fn confirm(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let outcome = if is_form {
        match &body[..] {
            b"outcome=approve" => "approve".to_owned(),
            b"outcome=decline" => "decline".to_owned(),
            _ => String::new(),
        }
    } else {
        serde_json::from_slice::<ConfirmBody>(&body)
            .map(|b| b.outcome)
            .unwrap_or_default()
    };
    let approve = match outcome.as_str() {
        "approve" => true,
        "decline" => false,
        _ => {
            return Err(ApiError::bad_request(
                "outcome_invalid",
                "outcome must be approve or decline",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(sandbox.confirm(&id, approve).await?))
}

async fn chargeback(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    Ok(HttpResponse::Ok().json(sandbox.chargeback(&id).await?))
}

async fn get_faults(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    Ok(HttpResponse::Ok().json(sandbox.faults()))
}

async fn set_faults(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    body: web::Json<Faults>,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    if body.delay_ms > 60_000 {
        return Err(ApiError::bad_request(
            "delay_invalid",
            "delay_ms must be at most 60000",
        ));
    }
    Ok(HttpResponse::Ok().json(sandbox.set_faults(body.into_inner())))
}

async fn deliveries(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": sandbox.deliveries() })))
}

async fn settlement_report(
    sandbox: web::Data<Sandbox>,
    req: HttpRequest,
    date: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_key(&sandbox, &req)?;
    let csv = sandbox.settlement_report(&date).await?;
    Ok(HttpResponse::Ok().content_type("text/csv").body(csv))
}
