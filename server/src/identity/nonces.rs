//! The nonce book: records the nonce of every accepted device signature, batching concurrent
//! requests into one database transaction (group commit) so a signed request costs a share of a
//! commit rather than a commit of its own. It never verifies signatures; the caller records a
//! nonce only after the signature verified; old nonces are pruned by the janitor. A P2P transfer's
//! nonce skips the book: it commits in the ledger batch that moves the money (see
//! [`super::SignedDeviceDeferred`]).

use super::error::IdentityError;
use super::store::{self, DeviceNonce};
use crate::db::Db;
use crate::db::group_commit::{GroupCommit, GroupCommitError};

/// Handle to the nonce writer task. Cheap to clone.
#[derive(Clone)]
pub struct NonceBook {
    /// Nonce → whether it was new.
    writer: GroupCommit<DeviceNonce, bool>,
}

impl NonceBook {
    /// Starts the writer task on the current runtime. `batch_max` bounds one transaction,
    /// `queue_max` the requests waiting for the next one (beyond it a request is refused as busy).
    pub fn start(db: Db, batch_max: usize, queue_max: usize) -> NonceBook {
        let writer = GroupCommit::start(
            "device nonces",
            batch_max,
            queue_max,
            move |rows: Vec<DeviceNonce>| {
                let db = db.clone();
                async move { store::record_nonces(&db, &rows).await }
            },
        );
        NonceBook { writer }
    }

    /// Records `nonce`; [`IdentityError::SignatureReplayed`] when it was seen before (by this or
    /// any other server process).
    pub async fn record(&self, nonce: DeviceNonce) -> Result<(), IdentityError> {
        match self.writer.submit(nonce).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(IdentityError::SignatureReplayed),
            Err(GroupCommitError::Busy) => Err(IdentityError::Busy),
            Err(GroupCommitError::Failed) => {
                Err(IdentityError::Internal("recording a nonce failed"))
            }
            Err(GroupCommitError::Stopped) => Err(IdentityError::Internal("nonce writer stopped")),
        }
    }
}
