//! The ledger writer actor: group commit. It queues the transfers wallet actors (and system
//! debits) hand it, commits up to `batch_max` of them per database transaction, and answers each
//! caller with its own result. It never decides whether a debit is allowed (wallet actors did)
//! and never awaits another actor, so it cannot take part in a wait cycle.
//!
//! While one batch commits, new transfers queue; when the commit returns, everything queued (up
//! to `batch_max`) goes into the next batch. So under load batches grow by themselves, and a
//! lone transfer on an idle writer is committed at once, without a timer.
//!
//! Messages: [`Commit`] (one transfer and its reply channel; use [`submit`]) and [`Drain`]
//! (answered once nothing is queued or committing; used at shutdown).

use std::collections::VecDeque;
use std::time::Instant;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture};
use actix_rt::ArbiterHandle;
use tokio::sync::oneshot;

use super::store::{self, Prepared};
use super::{LedgerError, Posted};
use crate::config::LedgerConfig;
use crate::db::Db;
use crate::metrics::Metrics;

/// The reply channel of one transfer.
pub(crate) type Reply = oneshot::Sender<Result<Posted, LedgerError>>;

/// Commit this transfer and answer on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Commit {
    pub prepared: Prepared,
    pub reply: Reply,
}

/// Answer once the queue is empty and no batch is committing.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Drain(pub oneshot::Sender<()>);

pub(crate) struct LedgerWriter {
    db: Db,
    batch_max: usize,
    queue_max: usize,
    queue: VecDeque<Commit>,
    committing: bool,
    drained: Vec<oneshot::Sender<()>>,
    metrics: Metrics,
}

impl LedgerWriter {
    /// Starts the writer on `arbiter` (its own thread, so a slow commit never delays HTTP
    /// workers or wallet actors).
    pub(crate) fn start_on(
        arbiter: &ArbiterHandle,
        db: Db,
        config: &LedgerConfig,
        metrics: Metrics,
    ) -> Addr<LedgerWriter> {
        let batch_max = config.batch_max;
        let queue_max = config.queue_max;
        LedgerWriter::start_in_arbiter(arbiter, move |ctx| {
            // Messages leave the mailbox for the queue at once; the queue carries the real bound
            // (`queue_max`), the mailbox only absorbs bursts between two polls.
            ctx.set_mailbox_capacity(queue_max.min(65_536));
            LedgerWriter {
                db,
                batch_max,
                queue_max,
                queue: VecDeque::new(),
                committing: false,
                drained: Vec::new(),
                metrics,
            }
        })
    }

    fn commit_next(&mut self, ctx: &mut Context<Self>) {
        if self.committing {
            return;
        }
        if self.queue.is_empty() {
            for waiter in self.drained.drain(..) {
                let _ = waiter.send(());
            }
            return;
        }
        self.committing = true;
        let take = self.batch_max.min(self.queue.len());
        let (batch, replies): (Vec<Prepared>, Vec<Reply>) = self
            .queue
            .drain(..take)
            .map(|commit| (commit.prepared, commit.reply))
            .unzip();
        let db = self.db.clone();
        let metrics = self.metrics.clone();
        let work = async move {
            let started = Instant::now();
            match store::commit_batch(&db, &batch).await {
                Ok(results) => {
                    assert_eq!(results.len(), replies.len(), "one result per transfer");
                    let committed = results.iter().filter(|r| r.is_ok()).count();
                    metrics.observe_ledger_batch(
                        committed,
                        results.len() - committed,
                        started.elapsed().as_secs_f64(),
                    );
                    for (reply, result) in replies.into_iter().zip(results) {
                        // A caller that gave up (dropped its receiver) still got its transfer
                        // committed; its idempotency reference makes the retry a replay.
                        let _ = reply.send(result);
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, transfers = batch.len(), "ledger batch failed");
                    metrics.observe_ledger_batch(0, batch.len(), started.elapsed().as_secs_f64());
                    let reason = LedgerError::Unavailable("the ledger database failed".to_owned());
                    for reply in replies {
                        let _ = reply.send(Err(reason.clone()));
                    }
                }
            }
        };
        ctx.spawn(work.into_actor(self).map(|(), writer, ctx| {
            writer.committing = false;
            writer.commit_next(ctx);
        }));
    }
}

impl Actor for LedgerWriter {
    type Context = Context<Self>;
}

impl Handler<Commit> for LedgerWriter {
    type Result = ();

    fn handle(&mut self, commit: Commit, ctx: &mut Context<Self>) {
        if self.queue.len() >= self.queue_max {
            let _ = commit.reply.send(Err(LedgerError::LedgerBusy));
            return;
        }
        self.queue.push_back(commit);
        self.commit_next(ctx);
    }
}

impl Handler<Drain> for LedgerWriter {
    type Result = ();

    fn handle(&mut self, drain: Drain, ctx: &mut Context<Self>) {
        self.drained.push(drain.0);
        self.commit_next(ctx);
    }
}

/// Hands `prepared` to the writer and waits for its result. Only for transfers whose debit side
/// is a system account; wallet debits go through their wallet actor.
pub(crate) async fn submit(
    writer: &Addr<LedgerWriter>,
    prepared: Prepared,
) -> Result<Posted, LedgerError> {
    let (reply, answer) = oneshot::channel();
    send(writer, Commit { prepared, reply })?;
    answer.await.unwrap_or_else(|_| {
        Err(LedgerError::Unavailable(
            "the ledger writer stopped".to_owned(),
        ))
    })
}

/// `try_send` with the writer's refusals mapped to ledger errors (never waits for room).
pub(crate) fn send(writer: &Addr<LedgerWriter>, commit: Commit) -> Result<(), LedgerError> {
    writer.try_send(commit).map_err(|err| match err {
        actix::prelude::SendError::Full(_) => LedgerError::LedgerBusy,
        actix::prelude::SendError::Closed(_) => {
            LedgerError::Unavailable("the ledger writer stopped".to_owned())
        }
    })
}
