//! Load generators for a running Purse server (`purse bench ...`): end-to-end P2P transfers as
//! phones send them (signed up, logged in, device-signed, one `Idempotency-Key` each), measured
//! as transfers per second and latency percentiles, followed by a conservation check; merchant
//! charges of consumer pay codes against those transfers in one run ([`charges`]); and the
//! wallet-actor memory probe (touch many distinct wallets, read the server's resident memory and
//! watch idle passivation bring the actor count down).
//!
//! It never loads anything but a loopback address ([`target`]), never runs unbounded (durations,
//! counts and every request are capped), and never reaches into the server's internals: requests
//! go over HTTP, and only funding may use the operator's path (`purse admin fund`'s ledger call on
//! the same database, or `/v1/admin/fund` with the operator token).

pub mod actors;
pub mod api;
pub mod charges;
pub mod procfs;
pub mod saved;
pub mod setup;
pub mod stats;
pub mod target;
pub mod transfers;

use rand_core::{OsRng, RngCore};

/// A small fast generator for picking wallets and amounts: load shape, not secrets (nonces and
/// keys come from the operating system's generator). SplitMix64, seeded from the OS.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn from_os() -> Rng {
        Rng(OsRng.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is below 2^-40 for the counts used here.
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }
}

/// A short random tag naming one run: bench users' emails, idempotency keys and funding
/// references carry it, so runs never collide with each other or with real data.
pub fn run_tag() -> String {
    let mut bytes = [0u8; 5];
    OsRng.fill_bytes(&mut bytes);
    data_encoding::HEXLOWER.encode(&bytes)
}

#[cfg(test)]
mod e2e_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_stays_in_range_and_covers_it() {
        let mut rng = Rng::from_os();
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[rng.below(7)] += 1;
        }
        assert!(seen.iter().all(|&n| (700..1300).contains(&n)), "{seen:?}");
        assert_eq!(rng.below(1), 0);
        assert_eq!(rng.below(0), 0);
        assert_ne!(run_tag(), run_tag());
        assert_eq!(run_tag().len(), 10);
    }
}
