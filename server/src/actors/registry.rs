//! The wallet registry: finds the running actor of a wallet or starts one, spreads actors over a
//! few dedicated threads (arbiters), and enforces each actor's mailbox bound (a full mailbox is
//! `wallet_busy`, never an unbounded queue). One sweep timer (not one timer per actor, which cost
//! about 120 bytes and a wake-up per actor) asks actors idle for `idle_timeout_ms` to passivate;
//! an actor that agrees removes itself. It never holds a lock across an `.await` or while an
//! actor runs.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use actix_rt::ArbiterHandle;
use tokio::sync::oneshot;

use super::wallet::{Debit, Observe, Passivate, WalletActor};
use crate::config::WalletConfig;
use crate::db::Db;
use crate::ledger::store::Prepared;
use crate::ledger::writer::LedgerWriter;
use crate::ledger::{LedgerError, Posted};
use crate::metrics::Metrics;

/// Shards of the registry map, so HTTP workers rarely contend on one lock.
const SHARDS: usize = 16;

/// Attempts to reach a wallet actor that stopped (passivated) between lookup and send.
const SEND_ATTEMPTS_MAX: usize = 3;

/// What every wallet actor needs.
pub(crate) struct WalletDeps {
    pub db: Db,
    pub writer: Addr<LedgerWriter>,
    pub metrics: Metrics,
    pub config: WalletConfig,
}

/// What the registry and one wallet actor share.
pub(crate) struct Shared {
    /// Messages sent to the actor and not yet handled; the registry refuses to send beyond
    /// `mailbox_max` (actix's own bound admits one extra message per sender).
    pub queued: AtomicUsize,
    /// When the actor last did something, in milliseconds since the registry's `epoch`.
    pub last_active_ms: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    generation: u64,
    addr: Addr<WalletActor>,
    shared: Arc<Shared>,
}

/// Finds or starts wallet actors. Cheap to clone.
#[derive(Clone)]
pub struct WalletRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    next_generation: AtomicU64,
    deps: Arc<WalletDeps>,
    epoch: Instant,
}

enum SendFailure<M> {
    Busy,
    Closed(M),
}

impl WalletRegistry {
    pub(crate) fn new(deps: WalletDeps, arbiters: Vec<ArbiterHandle>) -> WalletRegistry {
        assert!(
            !arbiters.is_empty(),
            "wallet actors need a thread to run on"
        );
        let idle = Duration::from_millis(deps.config.idle_timeout_ms);
        let registry = WalletRegistry {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                next_generation: AtomicU64::new(1),
                deps: Arc::new(deps),
                epoch: Instant::now(),
            }),
        };
        let weak = Arc::downgrade(&registry.inner);
        registry.inner.arbiters[0].spawn(sweep(weak, idle));
        registry
    }

    /// Milliseconds since this registry started (the clock of [`Shared::last_active_ms`]).
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Asks every actor idle for at least `idle` to passivate. The actor decides (it alone knows
    /// its in-flight debits) and removes itself.
    fn sweep_once(&self, idle: Duration) {
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        for shard in &self.inner.shards {
            let idle_actors: Vec<Addr<WalletActor>> = {
                let shard = shard.lock().expect("registry lock not poisoned");
                shard
                    .values()
                    .filter(|entry| {
                        entry.shared.queued.load(Ordering::Acquire) == 0
                            && now
                                .saturating_sub(entry.shared.last_active_ms.load(Ordering::Acquire))
                                >= idle_ms
                    })
                    .map(|entry| entry.addr.clone())
                    .collect()
            };
            for addr in idle_actors {
                // Not counted in `queued`: it is not work. A full mailbox means not idle.
                let _ = addr.try_send(Passivate { idle_ms });
            }
        }
    }

    fn shard(&self, account: &str) -> &Mutex<HashMap<String, Entry>> {
        let mut hasher = DefaultHasher::new();
        account.hash(&mut hasher);
        &self.inner.shards[(hasher.finish() as usize) % SHARDS]
    }

    fn get_or_start(&self, account: &str) -> Entry {
        let mut shard = self
            .shard(account)
            .lock()
            .expect("registry lock not poisoned");
        if let Some(entry) = shard.get(account) {
            if entry.addr.connected() {
                return entry.clone();
            }
        }
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
        });
        let index =
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.inner.arbiters.len();
        let deps = self.inner.deps.clone();
        let registry = self.clone();
        let account_id = account.to_owned();
        let actor_shared = shared.clone();
        let mailbox_max = deps.config.mailbox_max;
        let addr = WalletActor::start_in_arbiter(&self.inner.arbiters[index], move |ctx| {
            // Above our own bound (`queued`), so actix's per-sender parking never kicks in.
            ctx.set_mailbox_capacity(mailbox_max + 1);
            WalletActor::new(account_id, generation, actor_shared, deps, registry)
        });
        let entry = Entry {
            generation,
            addr,
            shared,
        };
        shard.insert(account.to_owned(), entry.clone());
        entry
    }

    /// Removes the entry of `account` if it is still the actor of `generation`.
    pub(crate) fn remove(&self, account: &str, generation: u64) {
        let mut shard = self
            .shard(account)
            .lock()
            .expect("registry lock not poisoned");
        if shard
            .get(account)
            .is_some_and(|entry| entry.generation == generation)
        {
            shard.remove(account);
        }
    }

    /// Number of wallet actors registered now.
    pub fn active(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|shard| shard.lock().expect("registry lock not poisoned").len())
            .sum()
    }

    fn send<M>(&self, entry: &Entry, message: M) -> Result<(), SendFailure<M>>
    where
        M: actix::Message<Result = ()> + Send + 'static,
        WalletActor: actix::Handler<M>,
    {
        let before = entry.shared.queued.fetch_add(1, Ordering::AcqRel);
        if before >= self.inner.deps.config.mailbox_max {
            entry.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SendFailure::Busy);
        }
        entry.addr.try_send(message).map_err(|err| {
            entry.shared.queued.fetch_sub(1, Ordering::AcqRel);
            match err {
                actix::prelude::SendError::Full(_) => SendFailure::Busy,
                actix::prelude::SendError::Closed(message) => SendFailure::Closed(message),
            }
        })
    }

    /// Debits through the wallet's actor (started on first use) and waits for the outcome.
    pub(crate) async fn debit(&self, prepared: Prepared) -> Result<Posted, LedgerError> {
        self.debit_with(prepared, false).await
    }

    /// Debits at most `prepared.amount_minor`: what the wallet holds when it holds less.
    pub(crate) async fn debit_up_to(&self, prepared: Prepared) -> Result<Posted, LedgerError> {
        self.debit_with(prepared, true).await
    }

    async fn debit_with(&self, prepared: Prepared, up_to: bool) -> Result<Posted, LedgerError> {
        let account = prepared.debit_account.clone();
        for _ in 0..SEND_ATTEMPTS_MAX {
            let entry = self.get_or_start(&account);
            let (reply, answer) = oneshot::channel();
            let debit = Debit {
                prepared: prepared.clone(),
                reply,
                up_to,
            };
            match self.send(&entry, debit) {
                Ok(()) => {}
                Err(SendFailure::Busy) => {
                    self.inner.deps.metrics.wallet_mailbox_rejected();
                    return Err(LedgerError::WalletBusy);
                }
                // It passivated between lookup and send: forget it and start a fresh one.
                Err(SendFailure::Closed(_)) => {
                    self.remove(&account, entry.generation);
                    continue;
                }
            }
            match answer.await {
                Ok(result) => return result,
                // Dropped unanswered: the actor stopped with the message in its mailbox (load
                // failure, passivation race, shutdown). Retrying is safe: the same transfer id and
                // reference can commit once only, and a replay is recognized by the ledger.
                Err(_) => continue,
            }
        }
        Err(LedgerError::Unavailable(
            "the wallet actor stopped repeatedly".to_owned(),
        ))
    }

    /// Tells a running wallet actor its balance at `as_of_seq`; does nothing when none runs or its
    /// mailbox is full (the actor re-reads the database before refusing a debit anyway).
    pub fn observe(&self, account: &str, as_of_seq: i64, balance_minor: i64) {
        let entry = {
            let shard = self
                .shard(account)
                .lock()
                .expect("registry lock not poisoned");
            match shard.get(account) {
                Some(entry) => entry.clone(),
                None => return,
            }
        };
        let _ = self.send(
            &entry,
            Observe {
                as_of_seq,
                balance_minor,
            },
        );
    }
}

/// The registry's one idle timer: every half idle timeout (10 ms to 5 s), [`WalletRegistry::sweep_once`].
/// Ends when the registry is gone.
async fn sweep(registry: Weak<Inner>, idle: Duration) {
    let every = (idle / 2).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = registry.upgrade() else {
            return;
        };
        WalletRegistry { inner }.sweep_once(idle);
    }
}
