//! The freeze check on the debit path: [`Freezes`] answers "is this wallet frozen?" from a set of
//! frozen wallet ids read from the database at most once per [`FREEZE_CACHE_TTL`], so every process
//! (a `purse admin freeze` run beside several servers) sees a freeze within about a second, and the
//! hot path costs one hash lookup. It never writes: freezing is [`super::freeze`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::store;
use crate::db::Db;

/// How stale the set of frozen wallets may be: a freeze takes effect in every process within this
/// time (plus one query).
pub const FREEZE_CACHE_TTL: Duration = Duration::from_secs(1);

/// The frozen wallet ids and when they were read.
type Snapshot = Option<(Instant, Arc<HashSet<String>>)>;

/// The frozen-wallet set of one process; cheap to clone.
#[derive(Clone)]
pub struct Freezes {
    db: Db,
    cached: Arc<Mutex<Snapshot>>,
    /// One refresh at a time: callers arriving while it runs wait for its answer.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl Freezes {
    pub fn new(db: Db) -> Freezes {
        Freezes {
            db,
            cached: Arc::new(Mutex::new(None)),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn fresh(&self) -> Option<Arc<HashSet<String>>> {
        let cached = self.cached.lock().expect("not poisoned");
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < FREEZE_CACHE_TTL)
            .map(|(_, set)| set.clone())
    }

    /// True when `wallet_id` is frozen (as of at most [`FREEZE_CACHE_TTL`] ago).
    pub async fn is_frozen(&self, wallet_id: &str) -> Result<bool, sqlx::Error> {
        if let Some(set) = self.fresh() {
            return Ok(set.contains(wallet_id));
        }
        let _guard = self.refreshing.lock().await;
        // Someone else may have refreshed while this caller waited.
        if let Some(set) = self.fresh() {
            return Ok(set.contains(wallet_id));
        }
        let set: Arc<HashSet<String>> =
            Arc::new(store::frozen_wallets(&self.db).await?.into_iter().collect());
        *self.cached.lock().expect("not poisoned") = Some((Instant::now(), set.clone()));
        Ok(set.contains(wallet_id))
    }
}
