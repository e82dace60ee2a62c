//! The webhook dispatcher: one task per server process that queues a delivery for every new event
//! of a merchant with a webhook (in event order), claims due deliveries in the database, POSTs
//! them signed, and records each outcome. Woken at once by events this process publishes for a
//! merchant, and otherwise every `[webhooks] poll_ms`, so it also sees other processes' events.
//! It never decides what an event says; it sends the stored Event JSON as it is.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use rand_core::{OsRng, RngCore};
use tokio::sync::watch;

use super::{address_allowed, parse_url, signature, store};
use crate::config::WebhooksConfig;
use crate::db::Db;
use crate::events::Events;
use crate::ids::{self, IdKind};
use crate::ledger::now_ms;

/// Endpoints looked at per round (queueing new events).
const ENDPOINTS_PER_ROUND_MAX: i64 = 1_000;
/// Events queued per endpoint per round.
const EVENTS_PER_ENDPOINT_MAX: u32 = 100;
/// Deliveries attempted at once per round.
const ATTEMPTS_PER_ROUND_MAX: i64 = 32;
/// Rounds woken by events start at most this often, so a burst of events makes one round.
const ROUND_GAP_MIN: Duration = Duration::from_millis(50);
/// Sent with every delivery.
const USER_AGENT: &str = "Purse-Webhooks/1";

/// Stops the dispatcher; cheap to clone.
#[derive(Clone)]
pub struct Handle {
    stop: watch::Sender<bool>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("webhooks::dispatcher::Handle")
    }
}

impl Handle {
    /// Asks the dispatcher to stop and waits for it (at most the attempt timeout plus a second).
    pub async fn shutdown(&self, timeout: Duration) {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            if tokio::time::timeout(timeout, task).await.is_err() {
                tracing::warn!("webhook dispatcher did not stop in time");
            }
        }
    }
}

/// Starts the dispatcher on the current actix arbiter.
pub fn start(db: Db, events: Events, config: WebhooksConfig) -> Handle {
    let (stop, stopped) = watch::channel(false);
    let task = actix_rt::spawn(run(db, events, config, stopped));
    Handle {
        stop,
        task: Arc::new(Mutex::new(Some(task))),
    }
}

struct Dispatcher {
    db: Db,
    events: Events,
    config: WebhooksConfig,
    client: awc::Client,
}

async fn run(db: Db, events: Events, config: WebhooksConfig, mut stopped: watch::Receiver<bool>) {
    let client = awc::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .disable_redirects()
        .add_default_header(("user-agent", USER_AGENT))
        .finish();
    let mut wake = events.subscribe();
    let poll = Duration::from_millis(config.poll_ms);
    let dispatcher = Dispatcher {
        db,
        events,
        config,
        client,
    };
    loop {
        if *stopped.borrow() {
            return;
        }
        if let Err(err) = dispatcher.round().await {
            tracing::warn!(error = %err, "webhook dispatch round failed");
        }
        let until = tokio::time::Instant::now() + poll;
        loop {
            tokio::select! {
                note = wake.recv() => match note {
                    Ok(owner) if owner.starts_with(IdKind::Merchant.prefix()) => break,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep_until(until).await;
                        break;
                    }
                },
                () = tokio::time::sleep_until(until) => break,
                _ = stopped.changed() => return,
            }
        }
        tokio::time::sleep(ROUND_GAP_MIN).await;
    }
}

/// The wait before retry number `attempt` (1 = after the first failure): base · 2^(attempt-1),
/// at most `retry_max_ms`, then "equal jitter" (a random point in its upper half) so that many
/// failing deliveries do not retry in lock-step.
pub fn backoff_ms(config: &WebhooksConfig, attempt: i64, random: u64) -> i64 {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let full = config
        .retry_base_ms
        .saturating_mul(1u64 << exponent)
        .min(config.retry_max_ms)
        .max(1);
    let half = full / 2;
    let jittered = full - half + random % (half + 1);
    i64::try_from(jittered).unwrap_or(i64::MAX)
}

/// How one attempt went.
struct Outcome {
    status_code: Option<i64>,
    error: Option<&'static str>,
}

impl Dispatcher {
    async fn round(&self) -> Result<(), sqlx::Error> {
        self.queue_new_events().await?;
        let now = now_ms();
        let due = store::due(&self.db, now, ATTEMPTS_PER_ROUND_MAX).await?;
        let lease_ms = i64::try_from(self.config.timeout_ms).unwrap_or(i64::MAX / 4) * 2 + 1_000;
        let mut claimed = Vec::new();
        for row in due {
            if store::claim(&self.db, &row, now, now + lease_ms).await? {
                claimed.push(row);
            }
        }
        let attempts = claimed.iter().map(|row| self.attempt(row));
        for result in futures_util::future::join_all(attempts).await {
            result?;
        }
        Ok(())
    }

    /// Queues a delivery for each event published since the endpoint's cursor.
    async fn queue_new_events(&self) -> Result<(), sqlx::Error> {
        for endpoint in store::endpoints(&self.db, ENDPOINTS_PER_ROUND_MAX).await? {
            let events = match self
                .events
                .after(
                    &endpoint.merchant_id,
                    endpoint.after_seq,
                    i64::from(EVENTS_PER_ENDPOINT_MAX),
                )
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    tracing::warn!(merchant = %endpoint.merchant_id, error = %err, "events unreadable");
                    continue;
                }
            };
            let Some(last) = events.last() else {
                continue;
            };
            let to_seq = last.seq;
            let queued: Vec<(String, i64, i64)> = events
                .iter()
                .map(|e| (e.event.id.clone(), e.seq, e.event.created_at_ms))
                .collect();
            store::enqueue(
                &self.db,
                &endpoint.merchant_id,
                &queued,
                endpoint.after_seq,
                to_seq,
                now_ms(),
            )
            .await?;
        }
        Ok(())
    }

    /// Makes the claimed attempt `row.attempts + 1` and records it.
    async fn attempt(&self, row: &store::DueRow) -> Result<(), sqlx::Error> {
        let attempt = row.attempts + 1;
        let event = self
            .events
            .after(&row.merchant_id, row.event_seq - 1, 1)
            .await
            .ok()
            .and_then(|mut found| found.pop())
            .filter(|stored| stored.event.id == row.event_id);
        let endpoint = store::endpoint(&self.db, &row.merchant_id).await?;
        let (outcome, event_type) = match (&event, &endpoint) {
            (Some(stored), Some(endpoint)) => (
                self.send(endpoint, &stored.event).await,
                stored.event.type_.as_str(),
            ),
            (None, _) => (
                Outcome {
                    status_code: None,
                    error: Some("event_unreadable"),
                },
                "unknown",
            ),
            (Some(stored), None) => (
                Outcome {
                    status_code: None,
                    error: Some("endpoint_removed"),
                },
                stored.event.type_.as_str(),
            ),
        };
        let now = now_ms();
        let (state, next) = if outcome.error.is_none() {
            ("succeeded", None)
        } else {
            let next = now + backoff_ms(&self.config, attempt, OsRng.next_u64());
            let give_up_at = row
                .event_created_at_ms
                .saturating_add(i64::try_from(self.config.give_up_after_ms).unwrap_or(i64::MAX));
            if endpoint.is_none() || next > give_up_at {
                ("failed", None)
            } else {
                ("pending", Some(next))
            }
        };
        if let Some(error) = outcome.error {
            tracing::info!(merchant = %row.merchant_id, event = %row.event_id, attempt,
                error, status = ?outcome.status_code, state, "webhook attempt failed");
        }
        let attempt_id = ids::new_id(IdKind::WebhookAttempt);
        store::finish(
            &self.db,
            &store::Finished {
                merchant_id: &row.merchant_id,
                event_id: &row.event_id,
                event_type,
                attempt,
                attempt_id: &attempt_id,
                state,
                next_attempt_at_ms: next,
                status_code: outcome.status_code,
                error: outcome.error,
                now_ms: now,
            },
        )
        .await
    }

    /// POSTs `event` to the endpoint, signed with every secret in force.
    async fn send(
        &self,
        endpoint: &store::EndpointRow,
        event: &purse_core::api::events::Event,
    ) -> Outcome {
        let failed = |error| Outcome {
            status_code: None,
            error: Some(error),
        };
        let allow_loopback = self.config.allow_loopback;
        let Ok(url) = parse_url(&endpoint.url, allow_loopback) else {
            return failed("url_forbidden");
        };
        // Resolve first and refuse internal addresses (a public name may point inside).
        match tokio::net::lookup_host((url.host.as_str(), url.port)).await {
            Ok(addresses) => {
                let addresses: Vec<_> = addresses.collect();
                if addresses.is_empty()
                    || addresses
                        .iter()
                        .any(|a| !address_allowed(a.ip(), allow_loopback))
                {
                    return failed("url_forbidden");
                }
            }
            Err(_) => return failed("dns_failed"),
        }
        let Ok(body) = serde_json::to_vec(event) else {
            return failed("event_unreadable");
        };
        let now = now_ms();
        let mut secrets = vec![endpoint.secret.as_str()];
        if let (Some(previous), Some(until)) =
            (&endpoint.previous_secret, endpoint.previous_expires_at_ms)
        {
            if until > now {
                secrets.push(previous.as_str());
            }
        }
        let signature = signature::header(&secrets, now / 1000, &body);
        let sent = self
            .client
            .post(&url.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("purse-signature", signature))
            .insert_header(("purse-event-id", event.id.as_str()))
            .insert_header(("purse-event-type", event.type_.as_str()))
            .send_body(body)
            .await;
        match sent {
            Ok(response) => {
                let status: StatusCode = response.status();
                Outcome {
                    status_code: Some(i64::from(status.as_u16())),
                    error: (!status.is_success()).then_some("http_status"),
                }
            }
            Err(awc::error::SendRequestError::Timeout) => failed("timeout"),
            Err(awc::error::SendRequestError::Connect(_)) => failed("connect_failed"),
            Err(_) => failed("send_failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let config = WebhooksConfig {
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            ..WebhooksConfig::default()
        };
        for (attempt, full) in [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (7, 60_000),
            (60, 60_000),
        ] {
            for random in [0, 1, 12_345, u64::MAX] {
                let wait = backoff_ms(&config, attempt, random);
                let full = i64::from(full);
                assert!(
                    (full / 2..=full).contains(&wait),
                    "attempt {attempt}: {wait}"
                );
            }
        }
        assert_eq!(backoff_ms(&config, 1, 0), 500);
        assert_eq!(backoff_ms(&config, 1, 500), 1_000);
    }
}
