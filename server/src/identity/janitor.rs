//! The identity janitor: a timer task that deletes rows which no longer decide anything (nonces
//! out of the signature window, login-failure runs long forgotten), so those tables stay small
//! whatever an attacker sends. It never deletes anything a check still reads; running it in
//! several server processes at once is harmless (the deletes are idempotent).

use std::time::Duration;

use purse_core::api::identity::DEVICE_SIGNATURE_WINDOW_MS;

use super::backoff::BackoffPolicy;
use super::{now_ms, store};
use crate::db::Db;

/// Nonces are kept this long past the window, for clock differences between server processes.
pub const NONCE_MARGIN_MS: i64 = 60_000;
/// How often the janitor runs.
const EVERY: Duration = Duration::from_secs(60);

/// Starts the janitor on the current runtime; it ends with the runtime.
pub fn start(db: Db, policy: BackoffPolicy) {
    tokio::spawn(async move {
        // The first sweep waits a period too: start-up stays quick, and nothing is urgent.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep(&db, policy, now_ms()).await;
        }
    });
}

async fn sweep(db: &Db, policy: BackoffPolicy, now: i64) {
    match store::prune_nonces(db, now - DEVICE_SIGNATURE_WINDOW_MS - NONCE_MARGIN_MS).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "pruned old device nonces"),
        Err(err) => tracing::warn!(error = %err, "pruning device nonces failed"),
    }
    match store::prune_login_failures(db, now - policy.forget_after_ms, now).await {
        Ok(0) => {}
        Ok(pruned) => tracing::debug!(pruned, "pruned forgotten login failures"),
        Err(err) => tracing::warn!(error = %err, "pruning login failures failed"),
    }
}
