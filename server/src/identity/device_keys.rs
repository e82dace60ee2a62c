//! The device-key cache: the public key and owner of recently used, unrevoked devices, so a
//! signed request does not read the `devices` row (and decompress the key) every time. It never
//! decides anything the database would not: a miss reads the row.
//!
//! **Revocation bound.** A device revoked through this process is dropped from the cache at once
//! ([`DeviceKeys::forget`]), so its next request here is refused. A device revoked by *another*
//! server process on the same database stays usable here for at most [`TTL`] after that
//! revocation, because every entry is re-read from the database once it is older than that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use purse_core::keys::PublicKey;

/// How long an entry is trusted without reading the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept at most; when full, the cache starts over (a burst of misses, nothing worse).
pub const ENTRIES_MAX: usize = 100_000;

struct Entry {
    user_id: String,
    key: PublicKey,
    read_at: Instant,
}

/// Unrevoked device keys by device id.
#[derive(Default)]
pub struct DeviceKeys {
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every [`DeviceKeys::forget`], so a read that started before a revocation in this
    /// process cannot put the revoked key back.
    forgets: AtomicU64,
}

impl DeviceKeys {
    /// The owner and key of `device_id` if cached less than [`TTL`] ago.
    pub fn get(&self, device_id: &str) -> Option<(String, PublicKey)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(device_id)
            .filter(|entry| entry.read_at.elapsed() < TTL)
            .map(|entry| (entry.user_id.clone(), entry.key))
    }

    /// Call before reading a device row; pass the answer to [`DeviceKeys::put`].
    pub fn begin_read(&self) -> (Instant, u64) {
        (Instant::now(), self.forgets.load(Ordering::SeqCst))
    }

    /// Remembers an unrevoked device read from the database after `begin_read` returned `read`
    /// (its time starts the TTL, so the bound holds from the moment the row was current). Does
    /// nothing when a device was forgotten since: the row may predate that revocation.
    pub fn put(&self, device_id: &str, user_id: &str, key: PublicKey, read: (Instant, u64)) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (read_at, forgets) = read;
        if self.forgets.load(Ordering::SeqCst) != forgets {
            return;
        }
        if entries.len() >= ENTRIES_MAX && !entries.contains_key(device_id) {
            entries.clear();
        }
        entries.insert(
            device_id.to_owned(),
            Entry {
                user_id: user_id.to_owned(),
                key,
                read_at,
            },
        );
    }

    /// Drops `device_id` (revoked in this process).
    pub fn forget(&self, device_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.forgets.fetch_add(1, Ordering::SeqCst);
        entries.remove(device_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use purse_core::keys::SecretKey;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let keys = DeviceKeys::default();
        let key = SecretKey::generate().public_key();
        keys.put("dev_a", "usr_a", key, keys.begin_read());
        assert_eq!(keys.get("dev_a"), Some(("usr_a".to_owned(), key)));
        assert_eq!(keys.get("dev_b"), None);
        let before_revoke = keys.begin_read();
        keys.forget("dev_a");
        assert_eq!(keys.get("dev_a"), None);
        keys.put("dev_a", "usr_a", key, before_revoke);
        assert_eq!(
            keys.get("dev_a"),
            None,
            "a read from before a revocation is not cached"
        );
        let Some(old) = Instant::now().checked_sub(TTL) else {
            return; // a clock this young cannot express an old entry
        };
        keys.put("dev_c", "usr_a", key, (old, keys.begin_read().1));
        assert_eq!(
            keys.get("dev_c"),
            None,
            "an entry older than the TTL is not trusted"
        );
    }
}
