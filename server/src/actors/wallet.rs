//! The wallet actor: one per active wallet per process. It holds the wallet's balance in memory and
//! serializes everything that lowers it, so a debit is approved without database row locks. It
//! never commits anything itself (the ledger writer does) and never awaits another actor: it hands
//! approved debits to the writer with `try_send` and reacts to the writer's answer as a message
//! to itself, so no wait cycle can form.
//!
//! # Balance bookkeeping
//!
//! `balance_minor` is the committed balance at chain position `balance_seq`; `pending_minor` is
//! the sum of debits approved and handed to the writer but not yet answered. A debit is approved
//! when `balance_minor - pending_minor >= amount`. An observation `(seq, balance)` replaces the
//! balance only when `seq` is newer. A debit committed before an observation but answered after
//! it is briefly counted twice, which can only refuse too early, never overdraw.
//!
//! With two server processes (or `purse admin fund` run beside a server) the cached balance can
//! be stale: stale-high is caught by the schema's `CHECK (balance_minor >= 0)` (the writer then
//! answers `insufficient_funds` and this actor re-reads its balance; a debit "up to" its amount,
//! a chargeback, is then approved again and takes what the wallet has); stale-low is fixed by
//! re-reading the database before refusing any debit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture,
};
use tokio::sync::oneshot;

use super::WalletRegistry;
use super::registry::{Shared, WalletDeps};
use crate::ledger::store::{self, Prepared};
use crate::ledger::writer::{self, Commit, Reply};
use crate::ledger::{AccountKind, LedgerError, Posted};

/// Debit the wallet: approve against the balance, have the writer commit, answer on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Debit {
    pub prepared: Prepared,
    pub reply: Reply,
    /// Take what the wallet has when it has less than the amount (chargebacks), rather than
    /// refusing; the amount is lowered before the debit is handed to the writer.
    pub up_to: bool,
}

/// The wallet's committed balance was `balance_minor` at chain position `as_of_seq` (sent after
/// credits; never required for correctness, it only saves a database read).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Observe {
    pub as_of_seq: i64,
    pub balance_minor: i64,
}

/// Sent by the registry's sweep: stop if nothing happened for `idle_ms` and nothing is in flight.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivate {
    pub idle_ms: u64,
}

/// What the actor knows about its wallet after loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loaded {
    Loading,
    Ready {
        currency: String,
    },
    /// No such wallet: every debit is answered `account_not_found`.
    Missing,
    /// The database failed while loading: debits are answered `ledger_unavailable` and the
    /// actor stops, so the next request loads afresh.
    Failed,
}

pub struct WalletActor {
    account_id: String,
    generation: u64,
    loaded: Loaded,
    balance_minor: i64,
    balance_seq: i64,
    pending_minor: i64,
    /// Debits accepted and not yet answered (being approved, refreshed or committed).
    inflight: usize,
    /// Mailbox count and last activity, shared with the registry (see [`Shared`]).
    shared: Arc<Shared>,
    deps: Arc<WalletDeps>,
    registry: WalletRegistry,
}

impl WalletActor {
    pub(crate) fn new(
        account_id: String,
        generation: u64,
        shared: Arc<Shared>,
        deps: Arc<WalletDeps>,
        registry: WalletRegistry,
    ) -> WalletActor {
        WalletActor {
            account_id,
            generation,
            loaded: Loaded::Loading,
            balance_minor: 0,
            balance_seq: -1,
            pending_minor: 0,
            inflight: 0,
            shared,
            deps,
            registry,
        }
    }

    fn available_minor(&self) -> i64 {
        self.balance_minor - self.pending_minor
    }

    fn observe(&mut self, as_of_seq: i64, balance_minor: i64) {
        if as_of_seq > self.balance_seq {
            assert!(
                balance_minor >= 0,
                "a committed wallet balance is never negative"
            );
            self.balance_seq = as_of_seq;
            self.balance_minor = balance_minor;
        }
    }

    fn touch(&self) {
        self.shared
            .last_active_ms
            .store(self.registry.now_ms(), Ordering::Release);
    }

    fn answer(&mut self, reply: Reply, result: Result<Posted, LedgerError>) {
        self.inflight -= 1;
        self.touch();
        let _ = reply.send(result);
    }

    /// Approves or refuses `debit`; refreshes from the database before refusing.
    fn approve(&mut self, debit: Debit, ctx: &mut Context<Self>, refreshed: bool) {
        let amount = debit.prepared.amount_minor;
        if self.available_minor() >= amount {
            self.submit(debit, ctx);
            return;
        }
        if refreshed {
            let available = self.available_minor();
            if debit.up_to && available > 0 {
                let mut debit = debit;
                debit.prepared.amount_minor = available;
                self.submit(debit, ctx);
                return;
            }
            self.answer(debit.reply, Err(LedgerError::InsufficientFunds));
            return;
        }
        self.approve_after_reading(debit, ctx);
    }

    /// Reads the balance from the database, then approves `debit` again (the last time).
    fn approve_after_reading(&mut self, debit: Debit, ctx: &mut Context<Self>) {
        // The cache may be stale-low (a credit from another process): read, then decide again.
        let db = self.deps.db.clone();
        let account = self.account_id.clone();
        ctx.spawn(
            async move { store::balance_at(&db, &account).await }
                .into_actor(self)
                .map(move |read, wallet, ctx| match read {
                    Ok(Some((balance_minor, as_of_seq))) => {
                        wallet.observe(as_of_seq, balance_minor);
                        wallet.approve(debit, ctx, true);
                    }
                    Ok(None) => {
                        let missing = LedgerError::AccountNotFound(wallet.account_id.clone());
                        wallet.answer(debit.reply, Err(missing));
                    }
                    Err(err) => wallet.answer(debit.reply, Err(err.into())),
                }),
        );
    }

    /// Reserves the amount and hands the debit to the writer.
    fn submit(&mut self, debit: Debit, ctx: &mut Context<Self>) {
        let amount = debit.prepared.amount_minor;
        self.pending_minor += amount;
        // A debit "up to" its amount refused by the database met a stale-high cache (another
        // process spent from this wallet): it is approved again after a read, and takes what
        // the wallet has then, rather than nothing.
        let retry = debit.up_to.then(|| debit.prepared.clone());
        let (to_writer, from_writer) = oneshot::channel();
        let commit = Commit {
            prepared: debit.prepared,
            reply: to_writer,
        };
        if let Err(refused) = writer::send(&self.deps.writer, commit) {
            self.pending_minor -= amount;
            self.answer(debit.reply, Err(refused));
            return;
        }
        let caller = debit.reply;
        ctx.spawn(
            from_writer
                .into_actor(self)
                .map(move |answer, wallet, ctx| {
                    // Re-check after the await: only this continuation releases this reservation.
                    wallet.pending_minor -= amount;
                    assert!(wallet.pending_minor >= 0, "released more than reserved");
                    let result = answer.unwrap_or_else(|_| {
                        Err(LedgerError::Unavailable(
                            "the ledger writer stopped".to_owned(),
                        ))
                    });
                    match &result {
                        Ok(posted) => wallet.observe(posted.as_of_seq, posted.debit_balance_minor),
                        // The database refused what the cache allowed: another process spent it.
                        Err(LedgerError::InsufficientFunds) => {
                            if let Some(prepared) = retry {
                                let again = Debit {
                                    prepared,
                                    reply: caller,
                                    up_to: true,
                                };
                                wallet.approve_after_reading(again, ctx);
                                return;
                            }
                            wallet.refresh(ctx);
                        }
                        Err(_) => {}
                    }
                    wallet.answer(caller, result);
                }),
        );
    }

    fn refresh(&mut self, ctx: &mut Context<Self>) {
        let db = self.deps.db.clone();
        let account = self.account_id.clone();
        ctx.spawn(
            async move { store::balance_at(&db, &account).await }
                .into_actor(self)
                .map(|read, wallet, _ctx| {
                    if let Ok(Some((balance_minor, as_of_seq))) = read {
                        wallet.observe(as_of_seq, balance_minor);
                    }
                }),
        );
    }
}

impl Actor for WalletActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.deps.metrics.wallet_actor_started();
        // Load before handling any message: `wait` holds the mailbox until the balance is known.
        let db = self.deps.db.clone();
        let account = self.account_id.clone();
        ctx.wait(
            async move {
                let wallet = store::account(&db, &account).await?;
                // Balance and chain position from one snapshot, so later observations can be
                // ordered against it.
                let balance = store::balance_at(&db, &account).await?;
                Ok::<_, sqlx::Error>(wallet.zip(balance))
            }
            .into_actor(self)
            .map(|loaded, wallet, ctx| match loaded {
                Ok(Some((account, (balance_minor, as_of_seq))))
                    if account.kind == AccountKind::Wallet =>
                {
                    wallet.loaded = Loaded::Ready {
                        currency: account.currency,
                    };
                    wallet.observe(as_of_seq, balance_minor);
                }
                Ok(_) => wallet.loaded = Loaded::Missing,
                Err(err) => {
                    tracing::error!(error = %err, "loading a wallet failed");
                    wallet.loaded = Loaded::Failed;
                    ctx.stop();
                }
            }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.registry.remove(&self.account_id, self.generation);
        self.deps.metrics.wallet_actor_stopped();
    }
}

impl Handler<Debit> for WalletActor {
    type Result = ();

    fn handle(&mut self, debit: Debit, ctx: &mut Context<Self>) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        self.touch();
        self.inflight += 1;
        let currency = match &self.loaded {
            Loaded::Ready { currency } => currency,
            Loaded::Missing => {
                let missing = LedgerError::AccountNotFound(self.account_id.clone());
                return self.answer(debit.reply, Err(missing));
            }
            Loaded::Loading | Loaded::Failed => {
                let failed = LedgerError::Unavailable("the wallet could not be loaded".to_owned());
                return self.answer(debit.reply, Err(failed));
            }
        };
        if *currency != debit.prepared.currency {
            return self.answer(debit.reply, Err(LedgerError::CurrencyMismatch));
        }
        if self.inflight > self.deps.config.pending_max {
            self.deps.metrics.wallet_mailbox_rejected();
            return self.answer(debit.reply, Err(LedgerError::WalletBusy));
        }
        self.approve(debit, ctx, false);
    }
}

impl Handler<Observe> for WalletActor {
    type Result = ();

    fn handle(&mut self, observed: Observe, _ctx: &mut Context<Self>) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        self.observe(observed.as_of_seq, observed.balance_minor);
    }
}

impl Handler<Passivate> for WalletActor {
    type Result = ();

    fn handle(&mut self, passivate: Passivate, ctx: &mut Context<Self>) {
        let last_active_ms = self.shared.last_active_ms.load(Ordering::Acquire);
        if self.inflight == 0
            && self.shared.queued.load(Ordering::Acquire) == 0
            && self.registry.now_ms().saturating_sub(last_active_ms) >= passivate.idle_ms
        {
            self.registry.remove(&self.account_id, self.generation);
            ctx.stop();
        }
    }
}
