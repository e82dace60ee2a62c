//! Payment HTTP handlers (`/v1/payments`, `/v1/charges`, `/v1/refunds`) and their OpenAPI
//! fragment. Each extracts, validates, makes one call and maps the answer; no rule and no SQL
//! lives here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::Problem;
use purse_core::api::payments::{
    Charge, CreateChargeRequest, CreatePaymentRequest, CreateRefundRequest, Payment, Refund,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{ChargeRequest, PayRequest, PaymentError, RefundRequest};
use crate::app::AppState;
use crate::error::ApiError;
use crate::idempotency::{Answer, Fingerprint, IdempotencyKey};
use crate::identity::SignedDevice;
use crate::ledger::LedgerError;
use crate::merchants::{MerchantCaller, PosKey};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payments", web::post().to(create_payment))
        .route("/payments/{payment_id}", web::get().to(get_payment))
        .route("/charges", web::post().to(create_charge))
        .route("/charges/{charge_id}", web::get().to(get_charge))
        .route("/refunds", web::post().to(create_refund))
        .route("/refunds/{refund_id}", web::get().to(get_refund));
}

/// Pay a merchant's QR code from one of your wallets.
///
/// Device-signed like `/v1/transfers`, `Idempotency-Key` required. The code must be a Purse code
/// (`qr_not_purse` otherwise) signed by an active key of an active merchant; a dynamic code is
/// payable once (`qr_already_paid`); a static code needs `amount`.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", security(("bearer" = [])),
    request_body = CreatePaymentRequest,
    params(
        ("Idempotency-Key" = String, Header, description = "Required"),
        ("Purse-Device-Id" = String, Header, description = "The signing device (`dev_...`)"),
        ("Purse-Timestamp" = String, Header, description = "Unix milliseconds"),
        ("Purse-Nonce" = String, Header, description = "Unique per request"),
        ("Purse-Signature" = String, Header, description = "Ed25519 signature, base64url"),
    ),
    responses(
        (status = 201, description = "The payment", body = Payment),
        (status = 400, description = "`qr_invalid`, `amount_required`, `amount_malformed`, `amount_not_positive`, `amount_too_precise`, `idempotency_key_missing`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` or `signature_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`insufficient_funds`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the wallet is not yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`qr_already_paid`, `idempotency_key_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`qr_not_purse`, `qr_signature_invalid`, `qr_expired`, `merchant_inactive`, `merchant_key_revoked`, `currency_mismatch`, `amount_mismatch`, `risk_amount_limit`, `risk_daily_limit`, `risk_velocity`, `risk_new_device`, `idempotency_key_reused`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_payment(
    state: web::Data<AppState>,
    req: HttpRequest,
    signed: SignedDevice<CreatePaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::required(req.headers())?;
    let pay = PayRequest::validate(&signed.body)?;
    let fingerprint = Fingerprint::of("POST", "/v1/payments", &signed.body);
    let user_id = &signed.user.user_id;
    let device_id = &signed.device_id;
    state
        .idempotency
        .run(user_id, &key, fingerprint, || async {
            let payment = state.payments.pay(user_id, device_id, &key, pay).await?;
            Ok(Answer::json(StatusCode::CREATED, &payment))
        })
        .await
}

/// A payment, for its payer, its merchant's owner or its merchant's POS keys.
#[utoipa::path(get, path = "/v1/payments/{payment_id}", tag = "payments", security(("bearer" = []), ("pos_key" = [])),
    params(("payment_id" = String, Path, description = "`pay_...`")),
    responses(
        (status = 200, description = "The payment", body = Payment),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_payment(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
) -> Result<web::Json<Payment>, ApiError> {
    Ok(web::Json(state.payments.get_payment(&caller, &path).await?))
}

/// Charge a consumer's pay code (POS key; `Idempotency-Key` required). Answers the receipt.
#[utoipa::path(post, path = "/v1/charges", tag = "payments", security(("pos_key" = [])),
    request_body = CreateChargeRequest,
    params(("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 201, description = "The charge (receipt)", body = Charge),
        (status = 400, description = "`paycode_invalid` (malformed), `amount_malformed`, `amount_not_positive`, `currency_unknown`, `reference_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`pos_key_invalid`, `token_missing`", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`insufficient_funds`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`device_revoked`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`paycode_replayed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`paycode_invalid` (unknown device, altered), `paycode_expired`, `paycode_over_limit`, `currency_mismatch`, `merchant_inactive`, risk codes", body = Problem, content_type = "application/problem+json")))]
pub async fn create_charge(
    state: web::Data<AppState>,
    req: HttpRequest,
    pos: PosKey,
    body: web::Json<CreateChargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::required(req.headers())?;
    let charge = ChargeRequest::validate(&body)?;
    let fingerprint = Fingerprint::of("POST", "/v1/charges", &*body);
    state
        .idempotency
        .run_with_record(&pos.merchant_id, &key, fingerprint, true, |record| async {
            match state.payments.charge(&pos, &key, charge, record).await {
                Ok((charge, recorded)) => {
                    Ok(Answer::json(StatusCode::CREATED, &charge).recorded_with_money(recorded))
                }
                Err(PaymentError::Ledger(LedgerError::AnsweredElsewhere)) => {
                    Ok(Answer::answered_elsewhere())
                }
                Err(err) => Err(err.into()),
            }
        })
        .await
}

/// A charge, for its merchant's owner or POS keys.
#[utoipa::path(get, path = "/v1/charges/{charge_id}", tag = "payments", security(("bearer" = []), ("pos_key" = [])),
    params(("charge_id" = String, Path, description = "`chg_...`")),
    responses(
        (status = 200, description = "The charge", body = Charge),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_charge(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
) -> Result<web::Json<Charge>, ApiError> {
    Ok(web::Json(state.payments.get_charge(&caller, &path).await?))
}

/// Refund a payment or charge, fully (no `amount`: what is left) or partly (merchant owner or POS
/// key; `Idempotency-Key` required). Refunds never add up to more than the original.
#[utoipa::path(post, path = "/v1/refunds", tag = "payments", security(("bearer" = []), ("pos_key" = [])),
    request_body = CreateRefundRequest,
    params(("Idempotency-Key" = String, Header, description = "Required")),
    responses(
        (status = 201, description = "The refund", body = Refund),
        (status = 400, description = "`payment_invalid`, `amount_malformed`, `amount_not_positive`, `reason_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`insufficient_funds`: the merchant wallet cannot cover it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`refund_exceeds_payment`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_refund(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: MerchantCaller,
    body: web::Json<CreateRefundRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::required(req.headers())?;
    let refund = RefundRequest::validate(&body)?;
    let fingerprint = Fingerprint::of("POST", "/v1/refunds", &*body);
    state
        .idempotency
        .run(caller.idempotency_owner(), &key, fingerprint, || async {
            let refund = state.payments.refund(&caller, &key, refund).await?;
            Ok(Answer::json(StatusCode::CREATED, &refund))
        })
        .await
}

/// A refund, for its merchant's owner or POS keys, or the payer.
#[utoipa::path(get, path = "/v1/refunds/{refund_id}", tag = "payments", security(("bearer" = []), ("pos_key" = [])),
    params(("refund_id" = String, Path, description = "`rfd_...`")),
    responses(
        (status = 200, description = "The refund", body = Refund),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_refund(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
) -> Result<web::Json<Refund>, ApiError> {
    Ok(web::Json(state.payments.get_refund(&caller, &path).await?))
}

/// Declares the `pos_key` security scheme (a POS API key as a bearer token).
struct PosKeyScheme;

impl Modify for PosKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "pos_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A merchant's POS API key (purse_pos_...)"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(create_payment, get_payment, create_charge, get_charge, create_refund, get_refund),
    components(schemas(CreatePaymentRequest, Payment, CreateChargeRequest, Charge,
        CreateRefundRequest, Refund, Problem)),
    tags((name = "payments", description = "Paying merchants (both QR flows) and refunds")),
    modifiers(&PosKeyScheme),
)]
pub struct Api;
