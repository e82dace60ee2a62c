//! The nonce book: records the nonce of every accepted device signature, batching concurrent
//! requests into one database transaction (group commit) so a signed request costs a share of a
//! commit rather than a commit of its own. It never verifies signatures; the caller records a
//! nonce only after the signature verified; old nonces are pruned by the janitor.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::error::IdentityError;
use super::store;
use crate::db::Db;

struct Entry {
    device_id: String,
    nonce: String,
    timestamp_ms: i64,
    reply: oneshot::Sender<Result<bool, ()>>,
}

/// Handle to the nonce writer task. Cheap to clone.
#[derive(Clone)]
pub struct NonceBook {
    tx: mpsc::Sender<Entry>,
}

impl NonceBook {
    /// Starts the writer task on the current runtime. `batch_max` bounds one transaction,
    /// `queue_max` the requests waiting for the next one (beyond it a request is refused as busy).
    pub fn start(db: Db, batch_max: usize, queue_max: usize) -> NonceBook {
        let (tx, rx) = mpsc::channel(queue_max.max(1));
        tokio::spawn(run(db, rx, batch_max.max(1)));
        NonceBook { tx }
    }

    /// Records `nonce` for `device_id`; [`IdentityError::SignatureReplayed`] when it was seen
    /// before (by this or any other server process).
    pub async fn record(
        &self,
        device_id: &str,
        nonce: &str,
        timestamp_ms: i64,
    ) -> Result<(), IdentityError> {
        let (reply, answer) = oneshot::channel();
        let entry = Entry {
            device_id: device_id.to_owned(),
            nonce: nonce.to_owned(),
            timestamp_ms,
            reply,
        };
        self.tx.try_send(entry).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => IdentityError::Busy,
            mpsc::error::TrySendError::Closed(_) => IdentityError::Internal("nonce writer stopped"),
        })?;
        match answer.await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(IdentityError::SignatureReplayed),
            Ok(Err(())) => Err(IdentityError::Internal("recording a nonce failed")),
            Err(_) => Err(IdentityError::Internal("nonce writer stopped")),
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Entry>, batch_max: usize) {
    let mut batch: Vec<Entry> = Vec::with_capacity(batch_max);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let rows: Vec<(String, String, i64)> = batch
            .iter()
            .map(|e| (e.device_id.clone(), e.nonce.clone(), e.timestamp_ms))
            .collect();
        match store::record_nonces(&db, &rows).await {
            Ok(fresh) => {
                assert_eq!(fresh.len(), batch.len(), "one verdict per nonce");
                for (entry, fresh) in batch.drain(..).zip(fresh) {
                    let _ = entry.reply.send(Ok(fresh));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, source = ?std::error::Error::source(&err), batch = batch.len(), "recording device nonces failed");
                for entry in batch.drain(..) {
                    let _ = entry.reply.send(Err(()));
                }
                // Do not spin against a database that is down.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
