//! Live events over real HTTP on SQLite and PostgreSQL: `transfer.received` reaches the
//! recipient's open Server-Sent Events stream at once, with the transfer as `GET
//! /v1/transfers/{id}` returns it; keep-alive comments; resume with `Last-Event-ID` (header and
//! query); a foreign or unknown id refused; the long-poll JSON form (paging, waiting, limits);
//! two server processes on one database (an event published by one reaches a stream on the other).
//! Also the SSE client the webhook and POS tests share.

use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use awc::error::PayloadError;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::transfers::{fund, get_auth, member, new_key, open_wallet, send, start_with, usd};
use crate::util::{BACKENDS, Reply, TestServer, assert_problem, read};

/// One SSE frame: its fields, and the comment lines it carried.
#[derive(Debug, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comments: Vec<String>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().expect("a data line")).expect("JSON data")
    }
}

/// An open `text/event-stream` response, read frame by frame.
pub struct Sse {
    body: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
    buffer: String,
}

/// Opens `GET {base}{path}` as an event stream; the error reply when it is not one.
pub async fn open_sse(
    base: &str,
    path: &str,
    token: &str,
    last_event_id: Option<&str>,
) -> Result<Sse, Reply> {
    let client = awc::Client::builder().disable_timeout().finish();
    let mut request = client
        .get(format!("{base}{path}"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("accept", "text/event-stream"));
    if let Some(id) = last_event_id {
        request = request.insert_header(("last-event-id", id));
    }
    let response = request.send().await.expect("stream request sent");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if response.status() != 200 || !content_type.starts_with("text/event-stream") {
        return Err(read(response).await);
    }
    Ok(Sse {
        body: Box::pin(response),
        buffer: String::new(),
    })
}

impl Sse {
    /// The next frame (event or comments only) within `timeout`; `None` when none came.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in raw.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        frame.comments.push(comment.trim().to_owned());
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                        match field {
                            "id" => frame.id = Some(value),
                            "event" => frame.event = Some(value),
                            "data" => frame.data = Some(value),
                            _ => {}
                        }
                    }
                }
                return Some(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Some(Err(err))) => panic!("event stream broke: {err}"),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event (frames with only comments are skipped) within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next_frame(left).await?;
            if frame.event.is_some() || frame.data.is_some() {
                return Some(frame);
            }
        }
    }

    /// Asserts that no event arrives within `time`.
    pub async fn assert_quiet(&mut self, time: Duration) {
        if let Some(frame) = self.next_event(time).await {
            panic!("unexpected event {frame:?}");
        }
    }
}

/// A server whose streams send keep-alives every 300 ms and poll the store every 200 ms.
fn start(backend: crate::util::Backend, test: &str) -> Option<TestServer> {
    start_with(backend, test, |config| {
        config.events.keepalive_ms = 300;
        config.events.poll_ms = 200;
    })
}

const PATIENCE: Duration = Duration::from_secs(10);

#[actix_rt::test]
async fn sse_delivers_transfer_received_live_and_resumes_after_last_event_id() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "sse_delivers_and_resumes") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_usd, "100.00").await;

        let mut stream = open_sse(base, "/v1/events", &bo.token, None)
            .await
            .unwrap_or_else(|reply| panic!("{backend:?}: {}", reply.text));
        let hello = stream.next_frame(PATIENCE).await.expect("first frame");
        assert!(hello.comments.iter().any(|c| c == "connected"), "{hello:?}");

        // Live: the event arrives promptly, carrying the transfer as GET returns it.
        let started = Instant::now();
        let sent = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "1.25"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        let first = stream
            .next_event(PATIENCE)
            .await
            .expect("transfer.received");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{backend:?}: took {:?}",
            started.elapsed()
        );
        assert_eq!(first.event.as_deref(), Some("transfer.received"));
        let event = first.json();
        let first_id = first.id.clone().expect("id");
        assert!(first_id.starts_with("evt_"), "{first_id}");
        assert_eq!(event["id"], first_id.as_str());
        assert_eq!(event["type"], "transfer.received");
        let txn = sent.reply.json["id"].as_str().expect("txn id");
        let fetched = get_auth(base, &format!("/v1/transfers/{txn}"), &bo.token).await;
        assert_eq!(event["data"], fetched.json, "{backend:?}");
        assert_eq!(event["data"]["amount"], "1.25");

        // Idle: keep-alive comments, no events.
        let idle = stream
            .next_frame(Duration::from_secs(3))
            .await
            .expect("keep-alive");
        assert!(idle.comments.iter().any(|c| c == "keep-alive"), "{idle:?}");
        assert!(idle.event.is_none());
        drop(stream);

        // Two transfers while nobody listens; the sender gets no event of her own.
        let mut txns = Vec::new();
        for amount in ["2.00", "3.00"] {
            let sent = send(
                base,
                &ana,
                Some(&new_key()),
                &usd(&ana_usd, json!(bo_usd), amount),
            )
            .await;
            assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
            txns.push(sent.reply.json["id"].as_str().expect("id").to_owned());
        }
        // Resume with the header: exactly the two missed events, in order.
        let mut resumed = open_sse(base, "/v1/events", &bo.token, Some(&first_id))
            .await
            .unwrap_or_else(|reply| panic!("{}", reply.text));
        let mut missed = Vec::new();
        for _ in 0..2 {
            let frame = resumed.next_event(PATIENCE).await.expect("a missed event");
            missed.push(frame.json()["data"]["id"].as_str().expect("txn").to_owned());
        }
        assert_eq!(missed, txns, "{backend:?}");
        resumed.assert_quiet(Duration::from_millis(800)).await;
        drop(resumed);

        // Resume with the query parameter: from the first, the same two.
        let mut by_query = open_sse(
            base,
            &format!("/v1/events?last_event_id={first_id}"),
            &bo.token,
            None,
        )
        .await
        .unwrap_or_else(|reply| panic!("{}", reply.text));
        let next = by_query.next_event(PATIENCE).await.expect("event");
        assert_eq!(next.json()["data"]["id"], txns[0].as_str());

        // Ana's own events: none (she only sent).
        let ana_events = get_auth(base, "/v1/events?limit=100", &ana.token).await;
        assert_eq!(ana_events.status, 200, "{}", ana_events.text);
        assert_eq!(ana_events.json["data"], json!([]));
    }
}

#[actix_rt::test]
async fn sse_refuses_foreign_and_unknown_event_ids_and_missing_tokens() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "sse_refuses_foreign_ids") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = member(base, "ana@example.com", 1).await;
        let bo = member(base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(base, &ana, "USD").await;
        let bo_usd = open_wallet(base, &bo, "USD").await;
        fund(base, &ana_usd, "10.00").await;
        let sent = send(
            base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "1.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        let page = get_auth(base, "/v1/events?limit=10", &bo.token).await;
        let bo_event = page.json["data"][0]["id"]
            .as_str()
            .expect("bo's event")
            .to_owned();

        // Bo's event id is unknown in Ana's stream (header, query and long-poll forms).
        let foreign = open_sse(base, "/v1/events", &ana.token, Some(&bo_event))
            .await
            .err()
            .expect("refused");
        assert_problem(&foreign, 400, "last_event_id_unknown");
        let by_query = get_auth(
            base,
            &format!("/v1/events?last_event_id={bo_event}"),
            &ana.token,
        )
        .await;
        assert_problem(&by_query, 400, "last_event_id_unknown");
        let long_poll = get_auth(base, &format!("/v1/events?after={bo_event}"), &ana.token).await;
        assert_problem(&long_poll, 400, "last_event_id_unknown");
        for garbage in ["evt_doesnotexist000000000000", "txn_123", "nonsense"] {
            let reply = open_sse(base, "/v1/events", &bo.token, Some(garbage))
                .await
                .err()
                .expect("refused");
            assert_problem(&reply, 400, "last_event_id_unknown");
        }
        // No token, a bad token.
        let anonymous = read(
            crate::util::client()
                .get(server.url("/v1/events"))
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(anonymous.status, 401, "{}", anonymous.text);
        let bad = open_sse(base, "/v1/events", "not-a-token", None)
            .await
            .err()
            .expect("refused");
        assert_eq!(bad.status, 401, "{}", bad.text);
        // A merchant the caller does not own.
        let merchant = get_auth(
            base,
            "/v1/events?merchant=mer_000000000000000000000000&limit=1",
            &bo.token,
        )
        .await;
        assert_problem(&merchant, 404, "not_found");
    }
}

#[actix_rt::test]
async fn long_poll_pages_waits_for_the_next_event_and_checks_its_limits() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "long_poll_pages_and_waits") else {
            continue;
        };
        let base = server.base.clone();
        let ana = member(&base, "ana@example.com", 1).await;
        let bo = member(&base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(&base, &ana, "USD").await;
        let bo_usd = open_wallet(&base, &bo, "USD").await;
        fund(&base, &ana_usd, "10.00").await;
        for amount in ["1.00", "2.00", "3.00"] {
            let sent = send(
                &base,
                &ana,
                Some(&new_key()),
                &usd(&ana_usd, json!(bo_usd), amount),
            )
            .await;
            assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        }
        // Paging from the oldest, two at a time.
        let first = get_auth(&base, "/v1/events?limit=2", &bo.token).await;
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(first.json["has_more"], true);
        let amounts = |page: &Reply| -> Vec<String> {
            page.json["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|e| e["data"]["amount"].as_str().expect("amount").to_owned())
                .collect()
        };
        assert_eq!(amounts(&first), ["1.00", "2.00"]);
        let last = first.json["data"][1]["id"].as_str().expect("id").to_owned();
        let second = get_auth(
            &base,
            &format!("/v1/events?after={last}&limit=2"),
            &bo.token,
        )
        .await;
        assert_eq!(amounts(&second), ["3.00"]);
        assert_eq!(second.json["has_more"], false);
        let newest = second.json["data"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned();

        // Nothing new and no wait: an empty page at once.
        let empty = get_auth(&base, &format!("/v1/events?after={newest}"), &bo.token).await;
        assert_eq!(empty.json, json!({"data": [], "has_more": false}));

        // Waiting: the answer comes when the next transfer lands, not at the end of the wait.
        let waiter = {
            let base = base.clone();
            let token = bo.token.clone();
            let newest = newest.clone();
            actix_rt::spawn(async move {
                let started = Instant::now();
                let reply =
                    get_auth(&base, &format!("/v1/events?after={newest}&wait=20"), &token).await;
                (reply, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = send(
            &base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "4.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{}", sent.reply.text);
        let (reply, waited) = waiter.await.expect("waiter");
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(amounts(&reply), ["4.00"], "{backend:?}");
        assert!(waited < Duration::from_secs(10), "waited {waited:?}");

        // A wait that times out answers an empty page after about that long.
        let newest = reply.json["data"][0]["id"].as_str().expect("id").to_owned();
        let started = Instant::now();
        let timed_out = get_auth(
            &base,
            &format!("/v1/events?after={newest}&wait=1"),
            &bo.token,
        )
        .await;
        assert_eq!(timed_out.json["data"], json!([]));
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );

        for (query, code) in [
            ("limit=0", "limit_invalid"),
            ("limit=101", "limit_invalid"),
            ("wait=31", "wait_invalid"),
            ("wait=-1", "query_invalid"),
        ] {
            let reply = get_auth(&base, &format!("/v1/events?{query}"), &bo.token).await;
            assert_problem(&reply, 400, code);
        }
    }
}

#[actix_rt::test]
async fn an_event_published_by_one_process_reaches_a_stream_on_another() {
    for backend in BACKENDS {
        let Some(first) = start(backend, "events_across_two_processes") else {
            continue;
        };
        let second = first.second("events_across_two_processes");
        let ana = member(&first.base, "ana@example.com", 1).await;
        let bo = member(&first.base, "bo@example.com", 2).await;
        let ana_usd = open_wallet(&first.base, &ana, "USD").await;
        let bo_usd = open_wallet(&first.base, &bo, "USD").await;
        fund(&first.base, &ana_usd, "10.00").await;

        // Bo listens on the first process; Ana sends through the second.
        let mut stream = open_sse(&first.base, "/v1/events", &bo.token, None)
            .await
            .unwrap_or_else(|reply| panic!("{}", reply.text));
        let sent = send(
            &second.base,
            &ana,
            Some(&new_key()),
            &usd(&ana_usd, json!(bo_usd), "5.00"),
        )
        .await;
        assert_eq!(sent.reply.status, 201, "{backend:?}: {}", sent.reply.text);
        let frame = stream
            .next_event(PATIENCE)
            .await
            .expect("event from the other process");
        assert_eq!(frame.json()["data"]["id"], sent.reply.json["id"]);
        drop(stream);
        drop(second);
    }
}

#[actix_rt::test]
async fn merchant_streams_for_the_owner_and_the_pos_key_see_payments() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "sse_merchant_scope") else {
            continue;
        };
        let base = server.base.as_str();
        let shop = crate::merchants::shop(base, "owner@example.com", 1).await;
        let (ana, ana_wallet) = crate::payments::payer(base, "ana@example.com", 2, "20.00").await;
        let by_owner = format!("/v1/events?merchant={}", shop.id);
        let mut owner_stream = open_sse(base, &by_owner, &shop.owner.token, None)
            .await
            .unwrap_or_else(|reply| panic!("{backend:?}: {}", reply.text));
        let mut pos_stream = open_sse(base, "/v1/events", &shop.pos, None)
            .await
            .unwrap_or_else(|reply| panic!("{backend:?}: {}", reply.text));
        let mut payer_stream = open_sse(base, "/v1/events", &ana.token, None)
            .await
            .unwrap_or_else(|reply| panic!("{}", reply.text));
        let payload = crate::payments::qr_payload(base, &shop, &json!({"amount": "3.00"})).await;
        let paid = crate::payments::pay(
            base,
            &ana,
            &new_key(),
            &json!({"payload": payload, "wallet": ana_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);
        for stream in [&mut owner_stream, &mut pos_stream, &mut payer_stream] {
            let frame = stream
                .next_event(PATIENCE)
                .await
                .expect("payment.succeeded");
            assert_eq!(
                frame.event.as_deref(),
                Some("payment.succeeded"),
                "{backend:?}"
            );
            assert_eq!(frame.json()["data"]["id"], paid.json["id"]);
        }
        // The owner's own stream is not the merchant's; another user cannot read the merchant's.
        let own = get_auth(base, "/v1/events?limit=10", &shop.owner.token).await;
        assert_eq!(own.json["data"], json!([]), "{}", own.text);
        let eve = member(base, "eve@example.com", 3).await;
        let foreign = get_auth(base, &format!("{by_owner}&limit=1"), &eve.token).await;
        assert_problem(&foreign, 404, "not_found");
        // A POS key names only its own merchant.
        let other = crate::merchants::shop(base, "other@example.com", 4).await;
        let cross = open_sse(
            base,
            &format!("/v1/events?merchant={}", other.id),
            &shop.pos,
            None,
        )
        .await
        .err()
        .expect("refused");
        assert_problem(&cross, 404, "not_found");
    }
}
