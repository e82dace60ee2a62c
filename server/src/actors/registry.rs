//! The wallet registry: finds the running actor of a wallet or starts one, spreads actors over a
//! few dedicated threads (arbiters), and enforces each actor's mailbox bound (a full mailbox is
//! `wallet_busy`, never an unbounded queue). Actors remove themselves when they passivate. It
//! never holds a lock across an `.await` or while an actor runs.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix::{Actor, Addr};
use actix_rt::ArbiterHandle;
use tokio::sync::oneshot;

use super::wallet::{Debit, Observe, WalletActor};
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

#[derive(Clone)]
struct Entry {
    generation: u64,
    addr: Addr<WalletActor>,
    queued: Arc<AtomicUsize>,
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
        WalletRegistry {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
                arbiters,
                next_arbiter: AtomicUsize::new(0),
                next_generation: AtomicU64::new(1),
                deps: Arc::new(deps),
            }),
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
        let queued = Arc::new(AtomicUsize::new(0));
        let index =
            self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.inner.arbiters.len();
        let deps = self.inner.deps.clone();
        let registry = self.clone();
        let account_id = account.to_owned();
        let actor_queued = queued.clone();
        let mailbox_max = deps.config.mailbox_max;
        let addr = WalletActor::start_in_arbiter(&self.inner.arbiters[index], move |ctx| {
            // Above our own bound (`queued`), so actix's per-sender parking never kicks in.
            ctx.set_mailbox_capacity(mailbox_max + 1);
            WalletActor::new(account_id, generation, actor_queued, deps, registry)
        });
        let entry = Entry {
            generation,
            addr,
            queued,
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
        let before = entry.queued.fetch_add(1, Ordering::AcqRel);
        if before >= self.inner.deps.config.mailbox_max {
            entry.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SendFailure::Busy);
        }
        entry.addr.try_send(message).map_err(|err| {
            entry.queued.fetch_sub(1, Ordering::AcqRel);
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
