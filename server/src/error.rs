//! The one public error of the HTTP API, [`ApiError`], rendered as `application/problem+json`
//! (RFC 9457) with a stable snake_case `code`. Each area keeps its own internal error enum and one
//! `From<AreaError> for ApiError` conversion that decides the status and what is logged; handlers
//! just use `?`. It never puts secrets, personal data or internal error text in a response: a 5xx
//! says only that something failed, and the cause goes to the log.
//!
//! Also here: the extractor configurations that map malformed JSON, bad query strings and
//! oversized bodies (413) to problems, and the catch-all 404 for unknown routes.

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use purse_core::api::{PROBLEM_CONTENT_TYPE, Problem};

/// An error answer: HTTP status, stable `code`, a title for people and an optional detail.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Option<String>,
}

impl ApiError {
    /// A problem with a stable code and a human title; add specifics with [`ApiError::detail`].
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> ApiError {
        ApiError {
            status,
            code,
            title,
            detail: None,
        }
    }

    /// Adds a human-readable explanation. Never pass secrets or another user's data here.
    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, "Bad request").detail(detail)
    }

    /// 422: the request is well-formed but cannot be carried out as asked.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "Unprocessable request",
        )
        .detail(detail)
    }

    /// Not found (404), also the answer for resources that exist but belong to someone else, so
    /// that ids cannot be probed.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found")
            .detail(format!("no such {what}"))
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, "Conflict").detail(detail)
    }

    pub fn too_many_requests(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, "Too many requests").detail(detail)
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable").detail(detail)
    }

    /// A 500 whose cause is logged here, once, and never shown to the client.
    pub fn internal(cause: impl fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn to_problem(&self) -> Problem {
        Problem::new(
            self.status.as_u16(),
            self.code,
            self.title,
            self.detail.clone(),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        ));
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(self.to_problem())
    }
}

fn json_error(err: JsonPayloadError, body_max_bytes: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            body_too_large(body_max_bytes)
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => body_too_large(body_max_bytes),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        )
        .detail("the body must be JSON with Content-Type: application/json"),
        JsonPayloadError::Deserialize(err) => {
            ApiError::bad_request("body_invalid", format!("invalid JSON body: {err}"))
        }
        JsonPayloadError::Serialize(err) => ApiError::internal(err),
        other => ApiError::bad_request("body_invalid", format!("unreadable body: {other}")),
    }
}

/// 413 `body_too_large`: the one answer to a body over `body_max_bytes`, whoever notices it.
pub fn body_too_large(body_max_bytes: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "Request body too large",
    )
    .detail(format!(
        "request bodies are limited to {body_max_bytes} bytes"
    ))
}

/// `web::Json` configuration: the body limit and problem+json for every JSON failure.
pub fn json_config(body_max_bytes: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(body_max_bytes)
        .error_handler(move |err, _req| json_error(err, body_max_bytes).into())
}

/// `web::Bytes` / `String` body configuration (signed requests read raw bytes): same limit.
pub fn payload_config(body_max_bytes: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(body_max_bytes)
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(err) = err else {
            return ApiError::bad_request("query_invalid", "invalid query string").into();
        };
        ApiError::bad_request("query_invalid", format!("invalid query string: {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    // A path segment that does not parse names no resource.
    web::PathConfig::default()
        .error_handler(|_err: PathError, _req| ApiError::not_found("resource").into())
}

/// The answer for every route that does not exist.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "Not found")
        .detail(format!("no route for {} {}", req.method(), req.path()))
        .error_response()
}

/// The problem for an error response that actix produced on its own (a body over the limit read
/// by a `Bytes` extractor, a method not allowed, ...), so no error body of the API is plain text.
pub fn problem_for_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "Request body too large",
        ),
        StatusCode::NOT_FOUND => ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        ),
        StatusCode::UNAUTHORIZED => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
        }
        status if status.is_server_error() => {
            ApiError::new(status, "internal_error", "Internal server error")
        }
        status => ApiError::new(status, "bad_request", "Bad request"),
    }
}
