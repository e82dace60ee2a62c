//! Merchant webhooks: a URL per merchant, the signing secrets (with rotation), and the
//! dispatcher that POSTs each of the merchant's events to it, signed (see [`signature`] and
//! docs/formats.md, "Webhook signature"), retrying failures with exponential back-off and jitter
//! for up to `[webhooks] give_up_after_ms` (24 h), and logging every attempt for the merchant.
//!
//! It never decides who may configure a merchant's webhook (the HTTP layer checks ownership
//! through the merchants area) and never moves money.
//!
//! **Invariant:** every attempt is claimed in the database before it is made
//! ([`store::claim`]: a conditional `UPDATE` on the attempt count and an expired lease), so two
//! server processes never make the same attempt. Delivery is at least once: a process that dies
//! mid-attempt leaves a lease that expires, and the attempt is made again; receivers deduplicate
//! by event id.
//!
//! **Invariant:** a webhook URL is `http` or `https` and never names a loopback, private,
//! link-local or unspecified address (checked when set, and again on every attempt after DNS
//! resolution), unless `[webhooks] allow_loopback` permits loopback (tests only).

pub mod dispatcher;
pub mod http;
pub mod signature;
pub mod store;

use std::net::IpAddr;

use actix_web::http::{StatusCode, Uri};
use purse_core::api::Page;
use purse_core::api::webhooks::{WebhookAttempt, WebhookEndpoint};

use crate::db::Db;
use crate::error::ApiError;
use crate::events::Events;
use crate::ids::{self, IdKind};
use crate::ledger::now_ms;

/// Longest accepted webhook URL.
pub const URL_CHARS_MAX: usize = 2048;

/// How long the secret replaced by a rotation keeps signing deliveries.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3_600_000;

/// Why a webhook request is refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the URL must be an absolute http or https URL of at most 2048 characters")]
    UrlInvalid,
    #[error("the URL names a loopback, private or link-local address")]
    UrlForbidden,
    #[error("no webhook is configured for this merchant")]
    NotFound,
    #[error("starting_after is not a line of this delivery log")]
    CursorInvalid,
    #[error("limit must be between 1 and 100")]
    LimitInvalid,
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::UrlInvalid => "webhook_url_invalid",
            WebhookError::UrlForbidden => "webhook_url_forbidden",
            WebhookError::NotFound => "not_found",
            WebhookError::CursorInvalid => "starting_after_invalid",
            WebhookError::LimitInvalid => "limit_invalid",
            WebhookError::Storage(_) => "storage_error",
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> ApiError {
        let code = err.code();
        match err {
            WebhookError::UrlInvalid | WebhookError::CursorInvalid | WebhookError::LimitInvalid => {
                ApiError::bad_request(code, err.to_string())
            }
            WebhookError::UrlForbidden => ApiError::unprocessable(code, err.to_string()),
            WebhookError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, code, "Not found").detail(err.to_string())
            }
            WebhookError::Storage(err) => ApiError::internal(format_args!("webhooks: {err}")),
        }
    }
}

/// A checked webhook URL: scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Checks the form of `url` and, for IP literals and `localhost`, the address.
pub fn parse_url(url: &str, allow_loopback: bool) -> Result<WebhookUrl, WebhookError> {
    if url.len() > URL_CHARS_MAX || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(WebhookError::UrlInvalid);
    }
    let uri: Uri = url.parse().map_err(|_| WebhookError::UrlInvalid)?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err(WebhookError::UrlInvalid),
    };
    let authority = uri.authority().ok_or(WebhookError::UrlInvalid)?;
    if authority.as_str().contains('@') {
        // No credentials in URLs: they would end up in logs.
        return Err(WebhookError::UrlInvalid);
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(WebhookError::UrlInvalid);
    }
    if host == "localhost" || host.ends_with(".localhost") {
        if !allow_loopback {
            return Err(WebhookError::UrlForbidden);
        }
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        if !address_allowed(ip, allow_loopback) {
            return Err(WebhookError::UrlForbidden);
        }
    }
    Ok(WebhookUrl {
        url: url.to_owned(),
        port: authority.port_u16().unwrap_or(default_port),
        host,
    })
}

/// Whether the dispatcher may connect to `ip`: public unicast only (plus loopback when allowed).
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return allow_loopback;
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            // fc00::/7 unique local, fe80::/10 link-local.
            !((first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The webhook configuration service; cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhooks {
    db: Db,
    events: Events,
    allow_loopback: bool,
}

fn endpoint_view(row: store::EndpointRow, secret: Option<String>, now: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        merchant_id: row.merchant_id,
        url: row.url,
        secret,
        previous_secret_expires_at_ms: row.previous_expires_at_ms.filter(|at| *at > now),
        created_at_ms: row.created_at_ms,
        updated_at_ms: row.updated_at_ms,
    }
}

impl Webhooks {
    pub fn new(db: Db, events: Events, config: &crate::config::WebhooksConfig) -> Webhooks {
        Webhooks {
            db,
            events,
            allow_loopback: config.allow_loopback,
        }
    }

    /// Sets the merchant's webhook URL. The first time, a signing secret is made and returned
    /// (`created` true); later calls change the URL and keep the secret. Only events published
    /// after the first call are delivered.
    pub async fn set(
        &self,
        merchant_id: &str,
        url: &str,
    ) -> Result<(WebhookEndpoint, bool), WebhookError> {
        let url = parse_url(url, self.allow_loopback)?;
        let secret = signature::new_secret();
        let after_seq = self
            .events
            .last_seq(merchant_id)
            .await
            .map_err(|err| match err {
                crate::events::EventsError::Storage(err) => WebhookError::Storage(err),
                other => WebhookError::Storage(sqlx::Error::Protocol(other.to_string())),
            })?;
        let now = now_ms();
        let created =
            store::put_endpoint(&self.db, merchant_id, &url.url, &secret, after_seq, now).await?;
        let row = store::endpoint(&self.db, merchant_id)
            .await?
            .ok_or(WebhookError::NotFound)?;
        let shown = created.then_some(secret);
        Ok((endpoint_view(row, shown, now), created))
    }

    pub async fn get(&self, merchant_id: &str) -> Result<WebhookEndpoint, WebhookError> {
        let row = store::endpoint(&self.db, merchant_id)
            .await?
            .ok_or(WebhookError::NotFound)?;
        Ok(endpoint_view(row, None, now_ms()))
    }

    /// Removes the webhook; its pending deliveries are given up.
    pub async fn delete(&self, merchant_id: &str) -> Result<(), WebhookError> {
        if store::delete_endpoint(&self.db, merchant_id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound)
        }
    }

    /// A new signing secret (returned once); the old one keeps signing for 24 hours.
    pub async fn rotate(&self, merchant_id: &str) -> Result<WebhookEndpoint, WebhookError> {
        let secret = signature::new_secret();
        let now = now_ms();
        if !store::rotate(
            &self.db,
            merchant_id,
            &secret,
            now + ROTATION_OVERLAP_MS,
            now,
        )
        .await?
        {
            return Err(WebhookError::NotFound);
        }
        let row = store::endpoint(&self.db, merchant_id)
            .await?
            .ok_or(WebhookError::NotFound)?;
        Ok(endpoint_view(row, Some(secret), now))
    }

    /// The delivery log, newest first.
    pub async fn attempts(
        &self,
        merchant_id: &str,
        limit: Option<u32>,
        starting_after: Option<&str>,
    ) -> Result<Page<WebhookAttempt>, WebhookError> {
        let limit = match limit {
            None => purse_core::api::PAGE_LIMIT_DEFAULT,
            Some(limit) if (1..=purse_core::api::PAGE_LIMIT_MAX).contains(&limit) => limit,
            Some(_) => return Err(WebhookError::LimitInvalid),
        };
        let before = match starting_after {
            None => i64::MAX,
            Some(id) if ids::is_valid(IdKind::WebhookAttempt, id) => {
                store::attempt_seq(&self.db, merchant_id, id)
                    .await?
                    .ok_or(WebhookError::CursorInvalid)?
            }
            Some(_) => return Err(WebhookError::CursorInvalid),
        };
        let mut rows = store::attempts(&self.db, merchant_id, before, i64::from(limit) + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(Page {
            data: rows
                .into_iter()
                .map(|row| WebhookAttempt {
                    id: row.id,
                    event_id: row.event_id,
                    event_type: row.event_type,
                    attempt: u32::try_from(row.attempt).unwrap_or(u32::MAX),
                    status_code: row.status_code.and_then(|code| u16::try_from(code).ok()),
                    error: row.error,
                    outcome: row.outcome,
                    next_retry_at_ms: row.next_retry_at_ms,
                    created_at_ms: row.created_at_ms,
                })
                .collect(),
            has_more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_form_and_address() {
        let ok = parse_url("https://hooks.example.com/purse?x=1", false).expect("public");
        assert_eq!((ok.host.as_str(), ok.port), ("hooks.example.com", 443));
        assert_eq!(
            parse_url("http://203.0.113.9:8080/", false)
                .unwrap_err()
                .code(),
            "webhook_url_forbidden"
        );
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "https://u:p@example.com/",
            "http://exa mple.com/",
        ] {
            assert_eq!(
                parse_url(bad, false).unwrap_err().code(),
                "webhook_url_invalid",
                "{bad}"
            );
        }
        for internal in [
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(
                parse_url(internal, false).unwrap_err().code(),
                "webhook_url_forbidden",
                "{internal}"
            );
        }
        assert!(parse_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(
            parse_url("http://10.1.2.3/", true).is_err(),
            "the flag allows loopback only"
        );
    }
}
