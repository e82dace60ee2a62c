//! Following one owner's events as they arrive: a cursor (the `seq` of the last event handed
//! out), the in-process wake-up, and a poll of the store every `poll` for events that other server
//! processes published. Used by the SSE stream, the long-poll form and the webhook dispatcher.
//! It never decides who may read an owner's events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::{Events, EventsError, Stored};

/// One reader of one owner's events, resuming after `after_seq`.
pub struct Reader {
    events: Events,
    owner_id: String,
    after_seq: i64,
    wake: broadcast::Receiver<Arc<str>>,
    poll: Duration,
}

/// A batch of events in order, and whether more were already waiting behind it.
pub struct Batch {
    pub events: Vec<Stored>,
    pub has_more: bool,
}

impl Reader {
    /// Subscribes to wake-ups before anything is read, so no event published after this call can
    /// slip between a read and the wait that follows it.
    pub fn new(events: &Events, owner_id: String, after_seq: i64, poll: Duration) -> Reader {
        Reader {
            wake: events.subscribe(),
            events: events.clone(),
            owner_id,
            after_seq,
            poll,
        }
    }

    pub fn owner_id(&self) -> &str {
        &self.owner_id
    }

    /// The events after the cursor, at most `limit` (>= 1); moves the cursor past them.
    pub async fn read(&mut self, limit: u32) -> Result<Batch, EventsError> {
        assert!(limit >= 1, "a read of no events");
        let mut events = self
            .events
            .after(&self.owner_id, self.after_seq, i64::from(limit) + 1)
            .await?;
        let has_more = events.len() > limit as usize;
        events.truncate(limit as usize);
        if let Some(last) = events.last() {
            assert!(last.seq > self.after_seq, "events read out of order");
            self.after_seq = last.seq;
        }
        Ok(Batch { events, has_more })
    }

    /// Waits until this process publishes an event for the owner, the poll interval passes, or
    /// `deadline`, whichever comes first. The caller then reads again.
    pub async fn wait(&mut self, deadline: Instant) {
        let until = deadline.min(Instant::now() + self.poll);
        loop {
            tokio::select! {
                note = self.wake.recv() => match note {
                    Ok(owner) if *owner == *self.owner_id => return,
                    Ok(_) => continue,
                    // Missed notes might have been ours: read again.
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => {
                        tokio::time::sleep_until(until).await;
                        return;
                    }
                },
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    /// The next events, waiting up to `wait` for the first one; an empty batch when none came.
    pub async fn read_waiting(&mut self, limit: u32, wait: Duration) -> Result<Batch, EventsError> {
        let deadline = Instant::now() + wait;
        loop {
            let batch = self.read(limit).await?;
            if !batch.events.is_empty() || Instant::now() >= deadline {
                return Ok(batch);
            }
            self.wait(deadline).await;
        }
    }
}
