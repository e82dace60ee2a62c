//! Transfer HTTP handlers under `/v1/transfers` and their OpenAPI fragment. Each extracts,
//! validates, makes one call and maps the answer; no rule and no SQL lives here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::Problem;
use purse_core::api::ledger::{CreateTransferRequest, Payee, Transfer, TransferTo};
use utoipa::OpenApi;

use super::{P2p, TransferError};
use crate::app::AppState;
use crate::error::ApiError;
use crate::idempotency::{Answer, Fingerprint, IdempotencyKey};
use crate::identity::{AuthUser, DeviceNonce, SignedDevice, SignedDeviceDeferred};
use crate::ledger::LedgerError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/transfers", web::post().to(create_transfer))
        .route("/transfers/{transfer_id}", web::get().to(get_transfer));
}

/// Send money from one of your wallets to a wallet id, or to a person by email or phone.
///
/// Requires a device signature (see docs/formats.md, "Device request signature") and an
/// `Idempotency-Key`: the same key with the same body answers the first response again (with
/// `Idempotent-Replayed: true`) and never moves money twice; the same key with another body is
/// `422 idempotency_key_reused`; while the first request runs, `409 idempotency_key_in_use`.
#[utoipa::path(post, path = "/v1/transfers", tag = "transfers", security(("bearer" = [])),
    request_body = CreateTransferRequest,
    params(
        ("Idempotency-Key" = String, Header, description = "Required: 1 to 128 visible ASCII characters, unique per operation"),
        ("Purse-Device-Id" = String, Header, description = "The signing device (`dev_...`)"),
        ("Purse-Timestamp" = String, Header, description = "Unix milliseconds, within 5 minutes of the server's clock"),
        ("Purse-Nonce" = String, Header, description = "Unique per request"),
        ("Purse-Signature" = String, Header, description = "Ed25519 signature, base64url"),
    ),
    responses(
        (status = 201, description = "The transfer is committed", body = Transfer),
        (status = 400, description = "`idempotency_key_missing`, `idempotency_key_invalid`, `amount_invalid`, `currency_unknown`, `memo_too_long`, `memo_invalid`, `recipient_invalid`, `email_invalid`, `phone_invalid`, `body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` or `signature_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 402, description = "`insufficient_funds`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: `from_wallet` is not one of your wallets", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`, `recipient_not_found`, `same_wallet`, `currency_mismatch`, `transfer_limit_exceeded`, `daily_limit_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`wallet_busy`: retry after `Retry-After` with the same key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`ledger_busy`, `ledger_unavailable`: retry with the same key", body = Problem, content_type = "application/problem+json")))]
pub async fn create_transfer(
    state: web::Data<AppState>,
    req: HttpRequest,
    deferred: SignedDeviceDeferred<CreateTransferRequest>,
) -> Result<HttpResponse, ApiError> {
    let SignedDeviceDeferred { signed, nonce } = deferred;
    // Until the transfer runs, the nonce is this handler's to record: each early answer records
    // it first, as `SignedDevice` would have (a replay of a refused request stays refused).
    let mut unspent = Some(nonce);
    let answer = create_transfer_spending(&state, &req, &signed, &mut unspent).await;
    if let Some(nonce) = unspent {
        state.identity.record_nonce(nonce).await?;
    }
    answer
}

/// [`create_transfer`] once the signature verified; takes the nonce out of `nonce` when the
/// transfer runs ([`crate::transfers::Transfers::send`] records it on every path).
async fn create_transfer_spending(
    state: &AppState,
    req: &HttpRequest,
    signed: &SignedDevice<CreateTransferRequest>,
    nonce: &mut Option<DeviceNonce>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::required(req.headers())?;
    let p2p = P2p::validate(&signed.body)?;
    let fingerprint = Fingerprint::of("POST", "/v1/transfers", &signed.body);
    let user_id = &signed.user.user_id;
    // Naming a person may open their wallet before the money moves: look the key up first then.
    // Otherwise nothing before the ledger outlives a retry (the nonce is the retry's own, a
    // reserved daily amount is released), so PostgreSQL skips that read.
    let look_up = p2p.names_a_person();
    state
        .idempotency
        .run_with_record(user_id, &key, fingerprint, look_up, |record| async {
            let nonce = nonce
                .take()
                .expect("the idempotency layer runs a request once");
            match state
                .transfers
                .send(user_id, &key, p2p, nonce, record)
                .await
            {
                Ok((transfer, recorded)) => {
                    Ok(Answer::json(StatusCode::CREATED, &transfer).recorded_with_money(recorded))
                }
                Err(TransferError::Ledger(LedgerError::AnsweredElsewhere)) => {
                    Ok(Answer::answered_elsewhere())
                }
                Err(err) => Err(err.into()),
            }
        })
        .await
}

/// A transfer you sent or received. Anyone else's transfer is a 404, like a missing one.
#[utoipa::path(get, path = "/v1/transfers/{transfer_id}", tag = "transfers",
    security(("bearer" = [])),
    params(("transfer_id" = String, Path, description = "`txn_...`")),
    responses(
        (status = 200, description = "The transfer", body = Transfer),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_transfer(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Transfer>, ApiError> {
    Ok(web::Json(state.transfers.get(&user.user_id, &path).await?))
}

#[derive(OpenApi)]
#[openapi(
    paths(create_transfer, get_transfer),
    components(schemas(CreateTransferRequest, TransferTo, Payee, Transfer, Problem)),
    tags((name = "transfers", description = "P2P transfers between wallets")),
)]
pub struct Api;
