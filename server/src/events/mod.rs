//! Events: what happened to a user (`usr_…`) or a merchant (`mer_…`), stored in order so that
//! Server-Sent Events, merchant webhooks and the SDK's event wait can read them and resume.
//!
//! Business areas publish with [`Events::publish`] **after** their money movement committed,
//! under a `dedupe_key` that names the business fact (`payment:pay_…`), so a retried operation
//! publishes once; publishes are group-committed ([`crate::db::group_commit`]). A P2P transfer's
//! `transfer.received` and a charge's two `payment.succeeded` are instead committed by the
//! ledger writer in the transfer's own transaction ([`crate::ledger::Ledger::transfer_with`];
//! same store functions, same order rules), and their publishers only wake readers
//! ([`Events::notify`]). Readers page through
//! [`Events::after`].
//!
//! Readers learn about new events two ways: an in-process broadcast of the owner id wakes them
//! at once when this process published, and they also re-read the store every
//! `[events] poll_ms`, so events published by another server process on the same PostgreSQL
//! arrive too. Ordering within one owner is exact (see [`store::insert`]), so a reader resumes
//! after the highest `seq` it delivered and never skips one.
//!
//! It never moves money and never decides who may read what (the HTTP layer checks that the
//! caller owns `owner_id`).

pub mod http;
pub mod live;
pub mod store;

use std::sync::Arc;

use purse_core::api::events::{Event, EventType};
use tokio::sync::broadcast;

use crate::db::Db;
use crate::db::group_commit::{GroupCommit, GroupCommitError};
use crate::ids::{self, IdKind};
use crate::ledger::now_ms;

/// Why an event could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("event {0} holds data that is not JSON")]
    Corrupt(String),
    /// The event writer's queue is full, its batch failed or it stopped.
    #[error("the event writer: {0}")]
    Writer(#[from] GroupCommitError),
}

impl EventsError {
    pub fn code(&self) -> &'static str {
        match self {
            EventsError::Storage(_) => "storage_error",
            EventsError::Corrupt(_) => "event_corrupt",
            EventsError::Writer(_) => "events_unavailable",
        }
    }
}

impl From<EventsError> for crate::error::ApiError {
    fn from(err: EventsError) -> crate::error::ApiError {
        crate::error::ApiError::internal(format_args!("events: {err}"))
    }
}

/// An event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// Whose event it is: `usr_…` or `mer_…`.
    pub owner_id: String,
    pub type_: EventType,
    /// Names the business fact, unique per owner (e.g. `payment:pay_…`, `refund:rfd_…`).
    pub dedupe_key: String,
    /// The object the event is about, as its own endpoint returns it.
    pub data: serde_json::Value,
}

/// A stored event with its position, for readers that resume.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub owner_id: String,
    pub event: Event,
}

/// How many "owner X has a new event" notes may wait for a slow in-process reader; a reader that
/// falls further behind re-reads the store (it loses no event, only the hint).
const NOTIFY_QUEUE_MAX: usize = 1024;
/// Events per database transaction of the event writer.
const WRITE_BATCH_MAX: usize = 512;
/// Events waiting for the event writer; beyond it `publish` fails at once (`events_unavailable`).
const WRITE_QUEUE_MAX: usize = 16_384;

/// The handle to the event store: cheap to clone.
#[derive(Clone)]
pub struct Events {
    db: Db,
    notify: broadcast::Sender<Arc<str>>,
    /// Inserts published events, many per transaction ([`crate::db::group_commit`]).
    writer: GroupCommit<store::NewRow, store::Row>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl Events {
    /// Events read and written through `db`. Starts the event writer on the current runtime.
    pub fn new(db: Db) -> Events {
        Events::with_writer(db.clone(), db)
    }

    /// Events read through `db` and written through `writer` (the process's write gate, see
    /// [`crate::ledger::Ledger::write_gate`]). Starts the event writer on the current runtime.
    pub fn with_writer(db: Db, writer: Db) -> Events {
        let (notify, _) = broadcast::channel(NOTIFY_QUEUE_MAX);
        let writer = GroupCommit::start(
            "events",
            WRITE_BATCH_MAX,
            WRITE_QUEUE_MAX,
            move |rows: Vec<store::NewRow>| {
                let writer = writer.clone();
                async move { store::insert_many(&writer, &rows).await }
            },
        );
        Events { db, notify, writer }
    }

    /// Wake-ups for readers in this process: each message is the owner id of a new event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.notify.subscribe()
    }

    /// Stores `event` once per `(owner_id, dedupe_key)`; returns the stored event (the first one
    /// when the key was already published).
    pub async fn publish(&self, event: NewEvent) -> Result<Stored, EventsError> {
        let row = self
            .writer
            .submit(store::NewRow {
                id: ids::new_id(IdKind::Event),
                owner_id: event.owner_id.clone(),
                type_: event.type_.as_str().to_owned(),
                data: event.data.to_string(),
                dedupe_key: event.dedupe_key,
                created_at_ms: now_ms(),
            })
            .await?;
        // No receiver (no open stream) is not an error.
        let _ = self.notify.send(Arc::from(event.owner_id.as_str()));
        to_stored(row)
    }

    /// Wakes this process's readers of `owner_id`: for events committed by someone else (the
    /// ledger commits a transfer's event with the transfer).
    pub fn notify(&self, owner_id: &str) {
        // No receiver (no open stream) is not an error.
        let _ = self.notify.send(Arc::from(owner_id));
    }

    /// Up to `limit` events of `owner_id` after position `after_seq` (0 = from the start).
    pub async fn after(
        &self,
        owner_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<Stored>, EventsError> {
        store::after(&self.db, owner_id, after_seq, limit)
            .await?
            .into_iter()
            .map(to_stored)
            .collect()
    }

    /// The position of the newest event of `owner_id` (0 when it has none).
    pub async fn last_seq(&self, owner_id: &str) -> Result<i64, EventsError> {
        Ok(store::last_seq(&self.db, owner_id).await?)
    }

    /// The position of `event_id` if it is one of `owner_id`'s events.
    pub async fn seq_of(&self, owner_id: &str, event_id: &str) -> Result<Option<i64>, EventsError> {
        Ok(store::seq_of(&self.db, owner_id, event_id).await?)
    }
}

fn to_stored(row: store::Row) -> Result<Stored, EventsError> {
    let type_ = EventType::parse(&row.type_).ok_or_else(|| EventsError::Corrupt(row.id.clone()))?;
    let data = serde_json::from_str(&row.data).map_err(|_| EventsError::Corrupt(row.id.clone()))?;
    Ok(Stored {
        seq: row.seq,
        owner_id: row.owner_id,
        event: Event {
            id: row.id,
            type_,
            created_at_ms: row.created_at_ms,
            data,
        },
    })
}
