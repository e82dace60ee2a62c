//! Recent reads: rows read from the database and trusted for a short while ([`TTL`]), so a hot
//! request path does not read the same unchanging row every time (a device's key, a POS key and
//! its merchant). A cache here never decides anything the database would not: a miss reads the
//! row, and only rows the caller would accept are put.
//!
//! **Change bound.** A change made through this process (a revocation, a merchant deactivated)
//! calls [`Recent::forget`] or [`Recent::forget_all`] before it answers, so the next request here
//! reads the row again. A change made by *another* server process on the same database is seen
//! here at most [`TTL`] after it committed, because every entry is read again once it is older
//! than that (its age counts from before the read, see [`Recent::begin_read`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long an entry is trusted without reading the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; when full, the cache starts over (a burst of misses, nothing worse).
pub const ENTRIES_MAX: usize = 100_000;

struct Entry<V> {
    value: V,
    read_at: Instant,
}

/// Taken by [`Recent::begin_read`] before a read, handed to [`Recent::put`] after it.
#[derive(Clone, Copy, Debug)]
pub struct ReadTicket {
    started: Instant,
    forgets: u64,
}

/// Values read recently, by key.
pub struct Recent<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
    /// Bumped by every forget, so a read that started before a change in this process cannot put
    /// the old row back.
    forgets: AtomicU64,
}

impl<V> Default for Recent<V> {
    fn default() -> Recent<V> {
        Recent {
            entries: Mutex::new(HashMap::new()),
            forgets: AtomicU64::new(0),
        }
    }
}

impl<V: Clone> Recent<V> {
    /// The value of `key` if it was read less than [`TTL`] ago.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|entry| entry.read_at.elapsed() < TTL)
            .map(|entry| entry.value.clone())
    }

    /// Call before reading the row; pass the ticket to [`Recent::put`].
    pub fn begin_read(&self) -> ReadTicket {
        ReadTicket {
            started: Instant::now(),
            forgets: self.forgets.load(Ordering::SeqCst),
        }
    }

    /// Remembers `value`, read after `begin_read` returned `ticket` (whose time starts the TTL,
    /// so the bound holds from the moment the row was current). Does nothing when anything was
    /// forgotten since: the row may predate that change.
    pub fn put(&self, key: &str, value: V, ticket: ReadTicket) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.forgets.load(Ordering::SeqCst) != ticket.forgets {
            return;
        }
        if entries.len() >= ENTRIES_MAX && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(
            key.to_owned(),
            Entry {
                value,
                read_at: ticket.started,
            },
        );
    }

    /// Drops `key` (its row changed in this process).
    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forgets.fetch_add(1, Ordering::SeqCst);
        entries.remove(key);
    }

    /// Drops every entry (a change in this process whose keys are not known here).
    pub fn forget_all(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forgets.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let recent = Recent::<u32>::default();
        recent.put("a", 1, recent.begin_read());
        recent.put("b", 2, recent.begin_read());
        assert_eq!(recent.get("a"), Some(1));
        assert_eq!(recent.get("c"), None);

        let before_change = recent.begin_read();
        recent.forget("a");
        assert_eq!(recent.get("a"), None);
        assert_eq!(recent.get("b"), Some(2), "forget drops one key");
        recent.put("a", 1, before_change);
        assert_eq!(
            recent.get("a"),
            None,
            "a read from before a change is not kept"
        );

        let before_all = recent.begin_read();
        recent.forget_all();
        assert_eq!(recent.get("b"), None, "forget_all drops every key");
        recent.put("b", 2, before_all);
        assert_eq!(
            recent.get("b"),
            None,
            "a read from before forget_all is not kept"
        );
        recent.put("b", 3, recent.begin_read());
        assert_eq!(recent.get("b"), Some(3));

        let Some(old) = Instant::now().checked_sub(TTL) else {
            return; // a clock this young cannot express an old entry
        };
        let ticket = ReadTicket {
            started: old,
            ..recent.begin_read()
        };
        recent.put("c", 4, ticket);
        assert_eq!(
            recent.get("c"),
            None,
            "an entry older than the TTL is not trusted"
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let recent = Recent::<usize>::default();
        for i in 0..ENTRIES_MAX {
            recent.put(&i.to_string(), i, recent.begin_read());
        }
        recent.put("0", 7, recent.begin_read());
        assert_eq!(recent.get("1"), Some(1), "replacing a key keeps the rest");
        recent.put("new", 1, recent.begin_read());
        assert_eq!(recent.get("new"), Some(1));
        assert_eq!(
            recent.get("1"),
            None,
            "a new key in a full cache starts over"
        );
    }
}
