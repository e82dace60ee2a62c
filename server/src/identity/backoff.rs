//! The login back-off policy: how long an account stays locked after a run of failed logins.
//! Pure arithmetic; the failure counts live in the database (see `store.rs`) so every server
//! process applies the same lock.

/// Login back-off settings (`[identity.backoff]` in the configuration file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Failures allowed before the first lock (typos happen).
    pub failures_free: u32,
    /// The first lock; each further failure doubles it.
    pub base_ms: i64,
    /// No lock is longer than this, so a real owner is never shut out for long.
    pub lock_max_ms: i64,
    /// A run of failures is forgotten after this long without one.
    pub forget_after_ms: i64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            failures_free: 5,
            base_ms: 1_000,
            lock_max_ms: 15 * 60 * 1000,
            forget_after_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl BackoffPolicy {
    /// The lock, in milliseconds, that follows failure number `failures` (1-based) of a run:
    /// none for the free ones, then base, 2 × base, 4 × base, … up to `lock_max_ms`.
    pub fn lock_ms(&self, failures: u32) -> i64 {
        if failures < self.failures_free {
            return 0;
        }
        let doublings = failures - self.failures_free;
        let factor = 1i64.checked_shl(doublings.min(62)).unwrap_or(i64::MAX);
        self.base_ms.saturating_mul(factor).min(self.lock_max_ms)
    }
}

/// Whole seconds a client must wait, rounded up so a retry exactly then is allowed; at least 1.
pub fn retry_after_s(locked_until_ms: i64, now_ms: i64) -> u64 {
    let wait_ms = locked_until_ms.saturating_sub(now_ms).max(1).unsigned_abs();
    wait_ms.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_grows_by_doubling_and_is_capped() {
        let policy = BackoffPolicy::default();
        let locks: Vec<i64> = (1..=9).map(|n| policy.lock_ms(n)).collect();
        assert_eq!(locks, [0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000]);
        assert_eq!(policy.lock_ms(20), 900_000);
        assert_eq!(policy.lock_ms(u32::MAX), 900_000);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_s(10_000, 9_000), 1);
        assert_eq!(retry_after_s(10_001, 9_000), 2);
        assert_eq!(retry_after_s(10_000, 10_000), 1);
        assert_eq!(retry_after_s(0, 10_000), 1);
    }
}
