//! Wire types of the Purse HTTP API, shared by the server and the SDK client so both sides use one
//! definition. Plain serde structs only: this module never links actix, sqlx or any HTTP client.
//!
//! With the `openapi` feature (enabled by the server only) the types also derive `utoipa::ToSchema`
//! so the server's `/openapi.json` is generated from these very definitions.
//!
//! Sub-modules hold the bodies of one area each (`identity`, `ledger`, `events`, `merchants`,
//! `payments`); this file holds what every area shares: the error body ([`Problem`]) and cursor
//! pagination ([`PageQuery`], [`Page`]).

pub mod events;
pub mod identity;
pub mod ledger;
pub mod merchants;
pub mod payments;
pub mod webhooks;

use serde::{Deserialize, Serialize};

/// The media type of every error response (RFC 9457).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Largest page a list endpoint returns, whatever `limit` asks for.
pub const PAGE_LIMIT_MAX: u32 = 100;

/// Page size when the request names no `limit`.
pub const PAGE_LIMIT_DEFAULT: u32 = 20;

/// Every error the API returns, as `application/problem+json` (RFC 9457).
///
/// `code` is the stable, machine-readable reason in snake_case (`wallet_busy`,
/// `insufficient_funds`, ...). Clients branch on `code`, never on `title` or `detail`, which are
/// for people and may change wording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` or `/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code, repeated for clients that lose the status line.
    pub status: u16,
    /// A human-readable explanation of this occurrence. Never holds secrets or personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable machine-readable reason, snake_case.
    pub code: String,
}

impl Problem {
    /// A problem whose `type` is derived from its `code` (`/problems/<code>`).
    pub fn new(status: u16, code: &str, title: &str, detail: Option<String>) -> Problem {
        Problem {
            type_: format!("/problems/{code}"),
            title: title.to_owned(),
            status,
            detail,
            code: code.to_owned(),
        }
    }
}

/// Query parameters of every cursor-paginated list: `?limit=20&starting_after=txn_...`.
///
/// `starting_after` is the id of the last item of the previous page; the next page holds the items
/// that come after it in the list's order (newest first unless the endpoint says otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct PageQuery {
    /// How many items to return, 1 to 100 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Return the items after the item with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<String>,
}

impl PageQuery {
    /// The page size to use, or `None` when `limit` is outside `1..=PAGE_LIMIT_MAX` (the server
    /// answers that with a 400 rather than silently clamping, so a client bug is visible).
    pub fn limit_checked(&self) -> Option<u32> {
        match self.limit {
            None => Some(PAGE_LIMIT_DEFAULT),
            Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Some(limit),
            Some(_) => None,
        }
    }
}

/// One page of a list: the items and whether more follow (`has_more`). To fetch the next page, pass
/// the id of the last item as `starting_after`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page, in the list's order.
    pub data: Vec<T>,
    /// True when at least one more item follows the last one of `data`.
    pub has_more: bool,
}

/// The body of `/healthz` and `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when healthy (or ready); otherwise the problem body is returned instead.
    pub status: String,
}
