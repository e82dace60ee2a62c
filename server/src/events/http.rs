//! `GET /v1/events`: a user's or a merchant's events as a Server-Sent Events stream, or in the
//! long-poll JSON form the SDK uses. Handlers extract, check who may read which owner's events,
//! and hand over to [`super::live::Reader`]; no SQL lives here.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::events::{EVENTS_WAIT_S_MAX, Event, EventsQuery};
use purse_core::api::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Page, Problem};
use tokio::time::Instant;
use utoipa::OpenApi;

use super::Stored;
use super::live::Reader;
use crate::app::AppState;
use crate::error::ApiError;
use crate::ids::{self, IdKind};
use crate::merchants::MerchantCaller;

/// Events read from the store at once by an SSE stream.
const STREAM_READ_MAX: u32 = 100;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(events));
}

/// Your events, live (Server-Sent Events) or as a long poll.
///
/// **Stream** (no `after`, `limit` or `wait`): `text/event-stream`; each event is sent as
/// `id: evt_…`, `event: <type>`, `data: <Event JSON>`. With `Last-Event-ID` (or
/// `?last_event_id=`) the stream starts right after that event, otherwise with the next new one.
/// An idle stream sends a `: keep-alive` comment every 15 s.
///
/// **Long poll** (any of `after`, `limit`, `wait`): a page of events after `after` (from the
/// oldest when absent), oldest first; when there is none yet, the answer waits up to `wait`
/// seconds for one. Pass the last event's id as `after` next time.
///
/// With `merchant=mer_…` the merchant's events instead of yours (you must own the merchant). A
/// POS API key (`Authorization: Bearer purse_pos_…`) reads its merchant's events.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("bearer" = [])),
    params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Stream: resume after this event (`evt_...`)")),
    responses(
        (status = 200, description = "`text/event-stream` of events, or (long poll) one page of events", body = Page<Event>),
        (status = 400, description = "`last_event_id_unknown` (not one of this owner's events), `limit_invalid`, `wait_invalid`, `query_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code, `pos_key_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such merchant of yours", body = Problem, content_type = "application/problem+json")))]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: MerchantCaller,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let owner_id = owner_of(&state, &caller, query.merchant.as_deref()).await?;
    let poll = Duration::from_millis(state.config.events.poll_ms);
    if query.is_long_poll() {
        let limit = match query.limit {
            None => PAGE_LIMIT_DEFAULT,
            Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => limit,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "limit_invalid",
                    format!("limit must be between 1 and {PAGE_LIMIT_MAX}"),
                ));
            }
        };
        let wait_s = query.wait.unwrap_or(0);
        if wait_s > EVENTS_WAIT_S_MAX {
            return Err(ApiError::bad_request(
                "wait_invalid",
                format!("wait must be between 0 and {EVENTS_WAIT_S_MAX} seconds"),
            ));
        }
        let after_seq = resume_seq(&state, &owner_id, query.after.as_deref()).await?;
        let mut reader = Reader::new(&state.events, owner_id, after_seq, poll);
        let batch = reader
            .read_waiting(limit, Duration::from_secs(u64::from(wait_s)))
            .await?;
        let page = Page {
            data: batch
                .events
                .into_iter()
                .map(|stored| stored.event)
                .collect(),
            has_more: batch.has_more,
        };
        return Ok(HttpResponse::Ok().json(page));
    }
    let header_id = req
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty());
    let resume_id = header_id.or(query.last_event_id.as_deref());
    let after_seq = match resume_id {
        Some(_) => resume_seq(&state, &owner_id, resume_id).await?,
        None => state.events.last_seq(&owner_id).await?,
    };
    let reader = Reader::new(&state.events, owner_id, after_seq, poll);
    let keepalive = Duration::from_millis(state.config.events.keepalive_ms);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Tells nginx-like proxies not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(sse_stream(reader, keepalive)))
}

/// Whose events the caller asks for: a user's own, a merchant's its owner names with
/// `?merchant=`, or (POS key) the key's merchant, whose id `?merchant=` may repeat.
async fn owner_of(
    state: &AppState,
    caller: &MerchantCaller,
    merchant: Option<&str>,
) -> Result<String, ApiError> {
    match (caller, merchant) {
        (MerchantCaller::User(user), None) => Ok(user.user_id.clone()),
        (caller, Some(merchant_id)) => {
            if !ids::is_valid(IdKind::Merchant, merchant_id) {
                return Err(ApiError::not_found("merchant"));
            }
            state.merchants.authorized(caller, merchant_id).await?;
            Ok(merchant_id.to_owned())
        }
        (MerchantCaller::Pos(pos), None) => Ok(pos.merchant_id.clone()),
    }
}

/// The position to resume after: 0 for none, the event's own for one of the owner's events, and
/// `last_event_id_unknown` for anything else (someone else's, or no event at all), so a client
/// never silently restarts from the wrong place.
async fn resume_seq(
    state: &AppState,
    owner_id: &str,
    event_id: Option<&str>,
) -> Result<i64, ApiError> {
    let Some(event_id) = event_id else {
        return Ok(0);
    };
    let unknown = || {
        ApiError::bad_request(
            "last_event_id_unknown",
            "that event id is not one of the events of this stream",
        )
    };
    if !ids::is_valid(IdKind::Event, event_id) {
        return Err(unknown());
    }
    state
        .events
        .seq_of(owner_id, event_id)
        .await?
        .ok_or_else(unknown)
}

/// One event as an SSE frame. The data is compact JSON, so it holds no newline.
fn frame(stored: &Stored) -> web::Bytes {
    let event = &stored.event;
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    web::Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.id,
        event.type_.as_str()
    ))
}

struct StreamState {
    reader: Reader,
    pending: VecDeque<web::Bytes>,
    keepalive: Duration,
    next_keepalive: Instant,
}

/// The SSE body: a first comment (so the client sees the headers at once), then every event
/// after the reader's cursor as it arrives, and a keep-alive comment when idle. A storage error
/// ends the stream; the client reconnects with `Last-Event-ID` and loses nothing.
fn sse_stream(
    reader: Reader,
    keepalive: Duration,
) -> impl futures_util::Stream<Item = Result<web::Bytes, Infallible>> + 'static {
    let mut pending = VecDeque::new();
    pending.push_back(web::Bytes::from_static(b"retry: 2000\n: connected\n\n"));
    let state = StreamState {
        reader,
        pending,
        keepalive,
        next_keepalive: Instant::now() + keepalive,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(bytes) = state.pending.pop_front() {
                return Some((Ok(bytes), state));
            }
            match state.reader.read(STREAM_READ_MAX).await {
                Ok(batch) if !batch.events.is_empty() => {
                    state.pending.extend(batch.events.iter().map(frame));
                    state.next_keepalive = Instant::now() + state.keepalive;
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(owner = %state.reader.owner_id(), error = %err, "event stream ended");
                    return None;
                }
            }
            if Instant::now() >= state.next_keepalive {
                state
                    .pending
                    .push_back(web::Bytes::from_static(b": keep-alive\n\n"));
                state.next_keepalive = Instant::now() + state.keepalive;
                continue;
            }
            let deadline = state.next_keepalive;
            state.reader.wait(deadline).await;
        }
    })
}

#[derive(OpenApi)]
#[openapi(
    paths(events),
    components(schemas(Event, purse_core::api::events::EventType, Problem)),
    tags((name = "events", description = "Live events: Server-Sent Events and long polling")),
)]
pub struct Api;
