//! Daily running sums in memory, checked against a limit before money moves: the P2P daily limit
//! per wallet ([`crate::transfers::limits`]) and the risk rules' daily limit per user and currency
//! ([`crate::risk`]). Neither writes to the database per request, and neither reads it per request.
//!
//! # The bookkeeping
//!
//! Each key's usage on one UTC day lives in memory: `used_minor` counts what committed that day
//! plus what is in flight. A request *reserves* its amount before its money moves (refused when
//! the sum would pass the limit); a definite failure gives the reservation back
//! ([`Reservation::release`]), anything else (success, an unknown outcome, a dropped request) keeps
//! it, so errors only ever over-count.
//!
//! The count is seeded from the database (the caller's `seed`, e.g. a `SUM` of today's rows) on
//! a key's first request of the day and refreshed every [`USAGE_REFRESH_MS`], so what other server
//! processes committed is seen within that time: with several processes a user could pass a limit
//! only by spending through two processes within one refresh interval. A refresh counts
//! `database sum + in flight + succeeded during the read`, which may count a request twice (never
//! zero times), so refreshing also errs on the side of refusing.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// How long a seeded daily count is trusted before it is re-read from the database.
pub const USAGE_REFRESH_MS: i64 = 5_000;
/// Keys whose usage is kept in memory; beyond it idle entries are forgotten (and re-seeded from
/// the database when they are used again).
pub const USAGE_ENTRIES_MAX: usize = 100_000;

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One key's usage on one UTC day.
#[derive(Debug, Default)]
struct Usage {
    /// Committed that day (as of the last seed) plus succeeded since plus in flight.
    used_minor: i64,
    in_flight_minor: i64,
    /// Sum of every success since the entry was made; lets a refresh find what succeeded while
    /// it read the database.
    succeeded_minor: i64,
    /// When `used_minor` was last seeded from the database; `None` before the first seed.
    seeded_at_ms: Option<i64>,
    /// Seeds reading the database right now; the entry is never forgotten meanwhile.
    seeding: u32,
}

impl Usage {
    fn fresh(&self, now_ms: i64) -> bool {
        self.seeded_at_ms
            .is_some_and(|at| now_ms - at < USAGE_REFRESH_MS)
    }

    fn busy(&self) -> bool {
        self.in_flight_minor > 0 || self.seeding > 0
    }
}

/// (key, UTC day number)
type DayKey<K> = (K, i64);
type Entries<K> = Mutex<HashMap<DayKey<K>, Usage>>;

/// What a [`Reservation`] holds: the entries, the key and the amount.
type Held<K> = (Arc<Entries<K>>, DayKey<K>, i64);

/// Why [`DailyUsage::reserve`] did not reserve.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<E> {
    /// The amount would pass the limit (or overflow the sum).
    OverLimit,
    /// The seed read failed; nothing was reserved.
    Seed(E),
}

/// The daily usage of one kind of limit in this process; cheap to clone.
pub struct DailyUsage<K> {
    entries: Arc<Entries<K>>,
}

impl<K> Clone for DailyUsage<K> {
    fn clone(&self) -> Self {
        DailyUsage {
            entries: self.entries.clone(),
        }
    }
}

impl<K: Clone + Eq + Hash> Default for DailyUsage<K> {
    fn default() -> Self {
        DailyUsage {
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: Clone + Eq + Hash> DailyUsage<K> {
    /// Reserves `amount_minor` against `key`'s usage on the UTC day of `now_ms` when
    /// `fits(sum after it)` holds. `seed(start of day)` reads what committed that day from the
    /// database; it runs when the key's count is missing or older than [`USAGE_REFRESH_MS`].
    pub async fn reserve<E, Fut>(
        &self,
        key: K,
        amount_minor: i64,
        now_ms: i64,
        fits: impl Fn(i64) -> bool,
        seed: impl FnOnce(i64) -> Fut,
    ) -> Result<Reservation<K>, Refused<E>>
    where
        Fut: Future<Output = Result<i64, E>>,
    {
        let day = now_ms.div_euclid(DAY_MS);
        let key = (key, day);
        // Fast path: a fresh count in memory.
        let succeeded_before = {
            let mut map = self.lock();
            if map.len() >= USAGE_ENTRIES_MAX && !map.contains_key(&key) {
                map.retain(|_, usage| usage.busy());
            }
            let entry = map.entry(key.clone()).or_default();
            if entry.fresh(now_ms) {
                return self.take(entry, key, amount_minor, fits);
            }
            entry.seeding += 1;
            entry.succeeded_minor
        };
        let seeded = seed(day * DAY_MS).await;
        let mut map = self.lock();
        let entry = map
            .get_mut(&key)
            .expect("an entry being seeded is never forgotten");
        entry.seeding -= 1;
        let committed = seeded.map_err(Refused::Seed)?;
        let during = entry.succeeded_minor - succeeded_before;
        entry.used_minor = committed
            .checked_add(entry.in_flight_minor)
            .and_then(|n| n.checked_add(during))
            .ok_or(Refused::OverLimit)?;
        entry.seeded_at_ms = Some(now_ms);
        self.take(entry, key, amount_minor, fits)
    }

    fn take<E>(
        &self,
        entry: &mut Usage,
        key: (K, i64),
        amount_minor: i64,
        fits: impl Fn(i64) -> bool,
    ) -> Result<Reservation<K>, Refused<E>> {
        assert!(amount_minor >= 0, "a reservation is never negative");
        let after = entry
            .used_minor
            .checked_add(amount_minor)
            .ok_or(Refused::OverLimit)?;
        if !fits(after) {
            return Err(Refused::OverLimit);
        }
        entry.used_minor = after;
        entry.in_flight_minor += amount_minor;
        Ok(Reservation {
            held: Some((self.entries.clone(), key, amount_minor)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(K, i64), Usage>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An amount reserved against a daily limit. Dropping it keeps the amount counted (the request
/// succeeded or its outcome is unknown); [`Reservation::release`] gives it back after a definite
/// failure. [`Reservation::none`] holds nothing (no limit applies).
pub struct Reservation<K: Eq + Hash> {
    held: Option<Held<K>>,
}

impl<K: Eq + Hash> Reservation<K> {
    pub fn none() -> Reservation<K> {
        Reservation { held: None }
    }

    /// The request definitely did not move money.
    pub fn release(mut self) {
        if let Some((entries, key, amount)) = self.held.take() {
            let mut map = entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&key) {
                entry.in_flight_minor -= amount;
                entry.used_minor -= amount;
                assert!(entry.in_flight_minor >= 0, "released more than reserved");
            }
        }
    }
}

impl<K: Eq + Hash> Drop for Reservation<K> {
    fn drop(&mut self) {
        if let Some((entries, key, amount)) = self.held.take() {
            let mut map = entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = map.get_mut(&key) {
                entry.in_flight_minor -= amount;
                entry.succeeded_minor += amount;
                assert!(entry.in_flight_minor >= 0, "settled more than reserved");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::convert::Infallible;

    use super::*;

    const LIMIT: i64 = 100;
    const T0: i64 = 20_000 * DAY_MS + 1_000;

    fn fits(after: i64) -> bool {
        after <= LIMIT
    }

    /// Reserves with a seed that answers `committed` and counts its calls in `seeds`.
    async fn reserve(
        usage: &DailyUsage<&'static str>,
        amount: i64,
        now_ms: i64,
        committed: i64,
        seeds: &Cell<u32>,
    ) -> Result<Reservation<&'static str>, Refused<Infallible>> {
        usage
            .reserve("w1", amount, now_ms, fits, |day_start| {
                assert_eq!(day_start, now_ms - now_ms.rem_euclid(DAY_MS));
                seeds.set(seeds.get() + 1);
                std::future::ready(Ok(committed))
            })
            .await
    }

    #[tokio::test]
    async fn reservations_count_until_released_and_refuse_past_the_limit() {
        let usage = DailyUsage::default();
        let seeds = Cell::new(0);
        let kept = reserve(&usage, 30, T0, 50, &seeds)
            .await
            .expect("50 + 30 fits");
        assert_eq!(
            seeds.get(),
            1,
            "the first use of the day reads the database"
        );
        // 50 committed + 30 in flight + 30 > 100.
        assert_eq!(
            reserve(&usage, 30, T0 + 1, 50, &seeds).await.err(),
            Some(Refused::OverLimit)
        );
        let released = reserve(&usage, 20, T0 + 2, 50, &seeds)
            .await
            .expect("fits exactly");
        assert_eq!(seeds.get(), 1, "a fresh count is not re-read");
        released.release();
        drop(kept); // succeeded: stays counted
        assert!(reserve(&usage, 20, T0 + 3, 50, &seeds).await.is_ok());
        assert_eq!(
            reserve(&usage, 1, T0 + 4, 50, &seeds).await.err(),
            Some(Refused::OverLimit),
            "50 + 30 kept + 20 = the limit"
        );
    }

    #[tokio::test]
    async fn a_refresh_counts_what_is_in_flight_and_what_succeeded_meanwhile() {
        let usage = DailyUsage::default();
        let seeds = Cell::new(0);
        let in_flight = reserve(&usage, 60, T0, 0, &seeds).await.expect("fits");
        // After the refresh interval the database (which does not have the in-flight 60 yet)
        // says 0: the count is 0 + 60 in flight, so 50 more is refused.
        let later = T0 + USAGE_REFRESH_MS;
        assert_eq!(
            reserve(&usage, 50, later, 0, &seeds).await.err(),
            Some(Refused::OverLimit)
        );
        assert_eq!(seeds.get(), 2);
        drop(in_flight);
        // The database now holds the 60 and 40 more (another process): seen at the next refresh.
        assert_eq!(
            reserve(&usage, 1, later + USAGE_REFRESH_MS, 100, &seeds)
                .await
                .err(),
            Some(Refused::OverLimit)
        );
        assert_eq!(seeds.get(), 3);
    }

    #[tokio::test]
    async fn a_new_day_starts_from_the_database_and_a_failed_seed_reserves_nothing() {
        let usage = DailyUsage::default();
        let seeds = Cell::new(0);
        drop(reserve(&usage, 100, T0, 0, &seeds).await.expect("fits"));
        let tomorrow = T0 + DAY_MS;
        assert!(reserve(&usage, 100, tomorrow, 0, &seeds).await.is_ok());
        assert_eq!(seeds.get(), 2, "each day is its own count");

        let failing = DailyUsage::<&'static str>::default();
        let failed = failing
            .reserve("w1", 10, T0, fits, |_| {
                std::future::ready(Err("database down"))
            })
            .await;
        assert_eq!(failed.err(), Some(Refused::Seed("database down")));
        // The entry is not left half-seeded: the next call seeds again and succeeds.
        let ok = failing
            .reserve("w1", 10, T0 + 1, fits, |_| {
                std::future::ready(Ok::<_, &str>(0))
            })
            .await;
        assert!(ok.is_ok());
    }

    #[tokio::test]
    async fn sums_that_would_overflow_are_refused() {
        let usage = DailyUsage::<&'static str>::default();
        let huge = usage
            .reserve(
                "w1",
                1,
                T0,
                |_| true,
                |_| std::future::ready(Ok::<_, Infallible>(i64::MAX)),
            )
            .await;
        assert_eq!(huge.err(), Some(Refused::OverLimit));
    }
}
