//! Merchant webhooks over real HTTP on SQLite and PostgreSQL, against a local receiver (an actix
//! server on 127.0.0.1 that records every request and answers a scripted status): a real
//! payment's `payment.succeeded` delivered signed exactly as docs/formats.md says (checked here
//! with HMAC-SHA256 directly), retried after receiver failures with growing back-off, every
//! attempt in the delivery log (paged); rotation sends two signatures; a delivery that keeps
//! failing is given up; loopback URLs refused by default; two server processes never make the same
//! attempt twice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use purse_core::api::events::EventType;
use purse_server::events::{Events, NewEvent};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::merchants::{Shop, bearer_call, shop};
use crate::payments::{pay, payer, qr_payload};
use crate::transfers::{new_key, start_with};
use crate::util::{BACKENDS, Backend, TestServer, assert_problem};

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    hits: Mutex<Vec<Hit>>,
    /// Statuses to answer, in order; 200 once it is empty (or `always` when set).
    script: Mutex<VecDeque<u16>>,
    always: Mutex<Option<u16>>,
}

/// A webhook receiver on 127.0.0.1.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    shared.hits.lock().unwrap().push(Hit {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let status = match *shared.always.lock().unwrap() {
        Some(status) => status,
        None => shared.script.lock().unwrap().pop_front().unwrap_or(200),
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl Receiver {
    pub fn start(script: &[u16]) -> Receiver {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(script.iter().copied());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let data = shared.clone();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(web::Data::new(data.clone()))
                        .default_service(web::to(receive))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).unwrap();
                server.await.expect("receiver ran");
            });
        });
        Receiver {
            url: format!("http://{addr}/hooks/purse"),
            shared,
            handle: rx.recv().expect("receiver started"),
            thread: Some(thread),
        }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    pub fn always(&self, status: u16) {
        *self.shared.always.lock().unwrap() = Some(status);
    }

    /// Waits until at least `count` requests arrived (panics after `patience`).
    pub async fn wait_for(&self, count: usize, patience: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + patience;
        loop {
            let hits = self.hits();
            if hits.len() >= count {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} deliveries arrived",
                hits.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Checks `Purse-Signature` of `hit` against each of `secrets` as docs/formats.md specifies:
/// `t=<T>,v1=<hex HMAC-SHA256(secret, "<T>.<body>")>` with one `v1` per secret, in order.
pub fn assert_signed(hit: &Hit, secrets: &[&str]) {
    let header = hit.headers.get("purse-signature").expect("Purse-Signature");
    let mut parts = header.split(',');
    let t = parts
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .expect("t= first");
    let t_value: i64 = t.parse().expect("t is a number");
    let now = purse_server::ledger::now_ms() / 1000;
    assert!((now - t_value).abs() < 300, "t={t_value} now={now}");
    let v1s: Vec<&str> = parts.map(|p| p.strip_prefix("v1=").expect("v1=")).collect();
    assert_eq!(v1s.len(), secrets.len(), "{header}");
    for (v1, secret) in v1s.iter().zip(secrets) {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{}", hit.body).as_bytes());
        let expected = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
        assert_eq!(*v1, expected, "signature with {}…", &secret[..8]);
    }
}

/// A server with loopback webhooks allowed and a fast retry schedule.
fn start(backend: Backend, test: &str, give_up_after_ms: u64) -> Option<TestServer> {
    start_with(backend, test, |config| {
        config.webhooks.allow_loopback = true;
        config.webhooks.retry_base_ms = 300;
        config.webhooks.retry_max_ms = 2_000;
        config.webhooks.give_up_after_ms = give_up_after_ms;
        config.webhooks.timeout_ms = 2_000;
        config.webhooks.poll_ms = 100;
    })
}

async fn put_webhook(base: &str, shop: &Shop, url: &str) -> crate::util::Reply {
    let path = format!("/v1/merchants/{}/webhook", shop.id);
    let body = serde_json::to_vec(&json!({"url": url})).unwrap();
    crate::identity::call(
        base,
        "PUT",
        &path,
        Some(&shop.owner.token),
        &[],
        Some(&body),
    )
    .await
    .reply
}

async fn deliveries(base: &str, shop: &Shop, query: &str) -> crate::util::Reply {
    let path = format!("/v1/merchants/{}/webhook/deliveries{query}", shop.id);
    bearer_call(base, "GET", &path, &shop.owner.token, None, None).await
}

/// Publishes an event for the merchant straight into the store (as another process would).
async fn publish(server: &TestServer, owner: &str, n: u32) -> String {
    let db = server.db().open().await;
    let stored = Events::new(db.clone())
        .publish(NewEvent {
            owner_id: owner.to_owned(),
            type_: EventType::PaymentRefunded,
            dedupe_key: format!("test:{n}"),
            data: json!({"n": n}),
        })
        .await
        .expect("published");
    db.close().await;
    stored.event.id
}

#[actix_rt::test]
async fn webhooks_deliver_signed_payments_retry_with_backoff_and_log_every_attempt() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "webhooks_deliver_and_retry", 60_000) else {
            continue;
        };
        let base = server.base.as_str();
        let receiver = Receiver::start(&[500, 503]);
        let shop = shop(base, "owner@example.com", 1).await;
        let created = put_webhook(base, &shop, &receiver.url).await;
        assert_eq!(created.status, 201, "{backend:?}: {}", created.text);
        let secret = created.json["secret"]
            .as_str()
            .expect("secret shown")
            .to_owned();
        assert!(
            secret.starts_with("whsec_") && secret.len() == 49,
            "{secret}"
        );
        assert_eq!(created.json["url"], receiver.url.as_str());
        // Shown once: GET and a second PUT do not show it.
        let fetched = bearer_call(
            base,
            "GET",
            &format!("/v1/merchants/{}/webhook", shop.id),
            &shop.owner.token,
            None,
            None,
        )
        .await;
        assert_eq!(fetched.status, 200, "{}", fetched.text);
        assert!(fetched.json.get("secret").is_none(), "{}", fetched.text);
        let again = put_webhook(base, &shop, &receiver.url).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert!(again.json.get("secret").is_none(), "{}", again.text);

        // A real payment: payment.succeeded for the merchant.
        let (ana, ana_wallet) = payer(base, "ana@example.com", 2, "50.00").await;
        let payload = qr_payload(base, &shop, &json!({"amount": "12.50"})).await;
        let paid = pay(
            base,
            &ana,
            &new_key(),
            &json!({"payload": payload, "wallet": ana_wallet}),
        )
        .await
        .reply;
        assert_eq!(paid.status, 201, "{}", paid.text);

        // Two failures, then success: three attempts of one event, spaced by the back-off.
        let hits = receiver.wait_for(3, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let hits_after = receiver.hits();
        assert_eq!(
            hits_after.len(),
            3,
            "{backend:?}: no attempt after a success"
        );
        let event: Value = serde_json::from_str(&hits[0].body).expect("JSON body");
        assert_eq!(event["type"], "payment.succeeded");
        assert_eq!(event["data"]["id"], paid.json["id"]);
        assert_eq!(event["data"]["amount"], "12.50");
        for hit in &hits {
            assert_eq!(hit.body, hits[0].body, "the same bytes every attempt");
            assert_eq!(hit.headers["content-type"], "application/json");
            assert_eq!(hit.headers["purse-event-id"], event["id"].as_str().unwrap());
            assert_signed(hit, &[&secret]);
        }
        let first_gap = hits[1].at - hits[0].at;
        let second_gap = hits[2].at - hits[1].at;
        assert!(first_gap >= Duration::from_millis(140), "{first_gap:?}");
        assert!(second_gap >= Duration::from_millis(290), "{second_gap:?}");

        // The log: newest first, with status codes and the retry times.
        let log = deliveries(base, &shop, "").await;
        assert_eq!(log.status, 200, "{}", log.text);
        let lines = log.json["data"].as_array().expect("data").clone();
        assert_eq!(lines.len(), 3, "{}", log.text);
        let expect = [
            (3, 200, "succeeded"),
            (2, 503, "retrying"),
            (1, 500, "retrying"),
        ];
        for (line, (attempt, status, outcome)) in lines.iter().zip(expect) {
            assert_eq!(line["event_id"], event["id"]);
            assert_eq!(line["event_type"], "payment.succeeded");
            assert_eq!(line["attempt"], attempt);
            assert_eq!(line["status_code"], status);
            assert_eq!(line["outcome"], outcome);
            assert_eq!(
                line["next_retry_at_ms"].is_i64(),
                outcome == "retrying",
                "{line}"
            );
        }
        assert_eq!(lines[1]["error"], "http_status");
        // Paged one at a time.
        let page = deliveries(base, &shop, "?limit=1").await;
        assert_eq!(page.json["has_more"], true);
        let after = page.json["data"][0]["id"].as_str().unwrap().to_owned();
        let next = deliveries(base, &shop, &format!("?limit=1&starting_after={after}")).await;
        assert_eq!(next.json["data"][0]["attempt"], 2);
        assert_problem(
            &deliveries(base, &shop, "?starting_after=wha_000000000000000000000000").await,
            400,
            "starting_after_invalid",
        );
        // Someone else cannot read or change it.
        let eve = crate::transfers::member(base, "eve@example.com", 3).await;
        let foreign = bearer_call(
            base,
            "GET",
            &format!("/v1/merchants/{}/webhook/deliveries", shop.id),
            &eve.token,
            None,
            None,
        )
        .await;
        assert_problem(&foreign, 404, "not_found");

        // Rotation: the next delivery carries the new and the old signature.
        let rotated = bearer_call(
            base,
            "POST",
            &format!("/v1/merchants/{}/webhook/rotate", shop.id),
            &shop.owner.token,
            None,
            None,
        )
        .await;
        assert_eq!(rotated.status, 200, "{}", rotated.text);
        let new_secret = rotated.json["secret"]
            .as_str()
            .expect("new secret")
            .to_owned();
        assert_ne!(new_secret, secret);
        assert!(rotated.json["previous_secret_expires_at_ms"].is_i64());
        publish(&server, &shop.id, 1).await;
        let hits = receiver.wait_for(4, Duration::from_secs(10)).await;
        assert_signed(&hits[3], &[&new_secret, &secret]);

        // Removed: nothing more is delivered.
        let removed = bearer_call(
            base,
            "DELETE",
            &format!("/v1/merchants/{}/webhook", shop.id),
            &shop.owner.token,
            None,
            None,
        )
        .await;
        assert_eq!(removed.status, 204, "{}", removed.text);
        publish(&server, &shop.id, 2).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(receiver.hits().len(), 4);
    }
}

#[actix_rt::test]
async fn a_delivery_that_keeps_failing_is_given_up_and_logged_failed() {
    for backend in BACKENDS {
        let Some(server) = start(backend, "webhooks_give_up", 1_500) else {
            continue;
        };
        let base = server.base.as_str();
        let receiver = Receiver::start(&[]);
        receiver.always(500);
        let shop = shop(base, "owner@example.com", 1).await;
        assert_eq!(put_webhook(base, &shop, &receiver.url).await.status, 201);
        publish(&server, &shop.id, 1).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        let lines = loop {
            let log = deliveries(base, &shop, "?limit=100").await;
            let lines = log.json["data"].as_array().cloned().unwrap_or_default();
            if lines.first().is_some_and(|l| l["outcome"] == "failed") {
                break lines;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: never gave up: {}",
                log.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(lines.len() >= 2, "retried before giving up: {lines:?}");
        assert!(lines[0]["next_retry_at_ms"].is_null());
        let attempts = receiver.hits().len();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(
            receiver.hits().len(),
            attempts,
            "no attempt after giving up"
        );
        assert_eq!(attempts, lines.len());
    }
}

#[actix_rt::test]
async fn loopback_and_malformed_urls_are_refused_by_default() {
    for backend in BACKENDS {
        let Some(server) = start_with(backend, "webhooks_refuse_loopback", |_| {}) else {
            continue;
        };
        let base = server.base.as_str();
        let shop = shop(base, "owner@example.com", 1).await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest",
            "http://10.0.0.1/",
        ] {
            assert_problem(
                &put_webhook(base, &shop, url).await,
                422,
                "webhook_url_forbidden",
            );
        }
        for url in [
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert_problem(
                &put_webhook(base, &shop, url).await,
                400,
                "webhook_url_invalid",
            );
        }
        let eve = crate::transfers::member(base, "eve@example.com", 2).await;
        let foreign = crate::identity::call(
            base,
            "PUT",
            &format!("/v1/merchants/{}/webhook", shop.id),
            Some(&eve.token),
            &[],
            Some(br#"{"url":"https://example.com/"}"#),
        )
        .await
        .reply;
        assert_problem(&foreign, 404, "not_found");
    }
}

#[actix_rt::test]
async fn two_processes_never_make_the_same_attempt() {
    for backend in BACKENDS {
        let Some(first) = start(backend, "webhooks_two_processes", 60_000) else {
            continue;
        };
        let second = first.second("webhooks_two_processes");
        let receiver = Receiver::start(&[]);
        let shop = shop(&first.base, "owner@example.com", 1).await;
        assert_eq!(
            put_webhook(&first.base, &shop, &receiver.url).await.status,
            201
        );
        let mut ids = Vec::new();
        for n in 0..20 {
            ids.push(publish(&first, &shop.id, n).await);
        }
        receiver.wait_for(20, Duration::from_secs(20)).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let mut received: Vec<String> = receiver
            .hits()
            .iter()
            .map(|hit| hit.headers["purse-event-id"].clone())
            .collect();
        received.sort();
        ids.sort();
        assert_eq!(received, ids, "{backend:?}: each event exactly once");
        drop(second);
    }
}
