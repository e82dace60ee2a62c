//! Group commit for small durable writes (device nonces, idempotency records, events): callers
//! hand one item each to a [`GroupCommit`] task, which writes everything queued (up to
//! `batch_max`) in one call of its `write` function (one database transaction) and answers each
//! caller with its own result. While one batch commits the next one queues, so under load batches
//! grow by themselves and a request costs a share of one commit (one fsync on SQLite) instead of a
//! commit of its own; a lone item on an idle writer is written at once, without a timer.
//!
//! On SQLite every group committer of the process writes through the ledger writer's connection
//! (the "write gate", [`crate::ledger::Ledger::write_gate`]): SQLite has one write lock, and
//! writers on separate connections lose to each other in SQLite's busy handler, which sleeps.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// Why an item was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupCommitError {
    /// `queue_max` items are waiting already; nothing was written (retryable).
    #[error("too many writes waiting")]
    Busy,
    /// The batch holding this item failed (logged with its cause); nothing of it was written.
    #[error("the batch failed")]
    Failed,
    /// The task has stopped (the server is shutting down).
    #[error("the writer stopped")]
    Stopped,
}

type Reply<R> = oneshot::Sender<Result<R, GroupCommitError>>;

/// What the task's queue carries.
enum Queued<T, R> {
    Item(T, Reply<R>),
    /// Answered once every item queued before it has been written (or has failed).
    Flush(oneshot::Sender<()>),
}

/// Handle to one group-commit task. Cheap to clone.
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Queued<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        GroupCommit {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the task on the current Tokio runtime. `write` commits one batch and answers one
    /// result per item, in order, or fails the whole batch; `name` labels its log lines. After a
    /// failed batch the task pauses 50 ms, so it does not spin against a database that is down.
    pub fn start<F, Fut, E>(
        name: &'static str,
        batch_max: usize,
        queue_max: usize,
        write: F,
    ) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, E>> + Send + 'static,
        E: std::error::Error + 'static,
    {
        let (tx, rx) = mpsc::channel(queue_max.max(1));
        tokio::spawn(run(name, rx, batch_max.max(1), write));
        GroupCommit { tx }
    }

    /// Queues `item` for the next batch and waits for its result. Never waits for room: a full
    /// queue is [`GroupCommitError::Busy`] at once.
    pub async fn submit(&self, item: T) -> Result<R, GroupCommitError> {
        self.enqueue(item)?.await
    }

    /// Queues `item` now (before returning) and gives the future of its result, for a caller
    /// that must not wait but needs the item in the queue before it goes on (a [`flush`] after
    /// it then covers it). A full queue is [`GroupCommitError::Busy`].
    ///
    /// [`flush`]: GroupCommit::flush
    pub fn enqueue(
        &self,
        item: T,
    ) -> Result<
        impl Future<Output = Result<R, GroupCommitError>> + Send + use<T, R>,
        GroupCommitError,
    > {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Queued::Item(item, reply))
            .map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => GroupCommitError::Busy,
                mpsc::error::TrySendError::Closed(_) => GroupCommitError::Stopped,
            })?;
        Ok(async move { answer.await.unwrap_or(Err(GroupCommitError::Stopped)) })
    }

    /// Waits until every item queued before this call has been written or has failed (at
    /// shutdown, so answers already sent keep their records). Returns at once if the task has
    /// stopped.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Queued::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn run<T, R, F, Fut, E>(
    name: &'static str,
    mut rx: mpsc::Receiver<Queued<T, R>>,
    batch_max: usize,
    mut write: F,
) where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<R>, E>>,
    E: std::error::Error + 'static,
{
    let mut items = Vec::with_capacity(batch_max);
    let mut replies: Vec<Reply<R>> = Vec::with_capacity(batch_max);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Collect up to `batch_max` items; a flush ends the batch (it waits for what came before).
        while let Some(queued) = next.take() {
            match queued {
                Queued::Item(item, reply) => {
                    items.push(item);
                    replies.push(reply);
                }
                Queued::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if items.len() < batch_max {
                next = rx.try_recv().ok();
            }
        }
        let count = items.len();
        let failed = count > 0
            && match write(std::mem::take(&mut items)).await {
                Ok(results) => {
                    assert_eq!(results.len(), count, "{name}: one result per item");
                    for (reply, result) in replies.drain(..).zip(results) {
                        // A caller that gave up still had its item written.
                        let _ = reply.send(Ok(result));
                    }
                    false
                }
                Err(err) => {
                    tracing::error!(writer = name, error = %err, source = ?err.source(), batch = count, "group commit failed");
                    for reply in replies.drain(..) {
                        let _ = reply.send(Err(GroupCommitError::Failed));
                    }
                    true
                }
            };
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        if failed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        items = Vec::with_capacity(batch_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_items_share_batches_and_get_their_own_results() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let doubler = GroupCommit::start("test", 64, 1000, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, sqlx::Error>(items.into_iter().map(|i| i * 2).collect())
            }
        });
        let calls: Vec<_> = (0..200u32)
            .map(|i| {
                let doubler = doubler.clone();
                tokio::spawn(async move { (i, doubler.submit(i).await) })
            })
            .collect();
        for call in calls {
            let (i, result) = call.await.unwrap();
            assert_eq!(result, Ok(i * 2));
        }
        let batches = batches.load(Ordering::SeqCst);
        assert!(batches < 200, "200 concurrent items took {batches} batches");
    }

    #[tokio::test]
    async fn a_failed_batch_fails_its_items_and_the_next_batch_runs() {
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = failing.clone();
        let writer = GroupCommit::start("test", 8, 8, move |items: Vec<u32>| {
            let fail = flag.swap(false, Ordering::SeqCst);
            async move {
                if fail {
                    Err(sqlx::Error::PoolTimedOut)
                } else {
                    Ok(items)
                }
            }
        });
        assert_eq!(writer.submit(1).await, Err(GroupCommitError::Failed));
        assert_eq!(writer.submit(2).await, Ok(2));
    }

    #[tokio::test]
    async fn flush_waits_for_items_queued_before_it() {
        let written = Arc::new(AtomicUsize::new(0));
        let count = written.clone();
        let writer = GroupCommit::start("test", 4, 100, move |items: Vec<u32>| {
            let count = count.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                count.fetch_add(items.len(), Ordering::SeqCst);
                Ok::<_, sqlx::Error>(items)
            }
        });
        let pending: Vec<_> = (0..10u32).map(|i| writer.enqueue(i).unwrap()).collect();
        writer.flush().await;
        assert_eq!(
            written.load(Ordering::SeqCst),
            10,
            "flush returned before the items"
        );
        for (i, result) in pending.into_iter().enumerate() {
            assert_eq!(result.await, Ok(i as u32));
        }
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once() {
        let (release, gate) = tokio::sync::watch::channel(false);
        let writer = GroupCommit::start("test", 1, 1, move |items: Vec<u32>| {
            let mut gate = gate.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok::<_, sqlx::Error>(items)
            }
        });
        let first = tokio::spawn({
            let writer = writer.clone();
            async move { writer.submit(1).await }
        });
        // The first item is taken into a batch that waits; the second fills the queue.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = tokio::spawn({
            let writer = writer.clone();
            async move { writer.submit(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(writer.submit(3).await, Err(GroupCommitError::Busy));
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(second.await.unwrap(), Ok(2));
    }
}
