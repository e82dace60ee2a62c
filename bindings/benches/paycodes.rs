//! Criterion benchmark `paycodes`: pay code generation in Rust, the baseline of the Kotlin figure
//! (`scripts/bench-bindings`): the core's `paycode::generate` (sign, then check the signature), and
//! the SDK's `PayCodes::generate` with a Rust counter store (adds the counter load and save, the
//! signer adapter and the result record). The difference between the Kotlin figure and the second
//! is what the boundary costs.
//!
//! After criterion's report it prints the same two as this thread's CPU time per call (from
//! `/proc/thread-self/schedstat`, Linux), which other load on a shared machine does not inflate
//! the way it inflates wall-clock time; `PayCodeBench.kt` prints the JVM thread's CPU time alike.
//!
//! ```text
//! cargo bench -p purse-ffi --bench paycodes
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;

use criterion::Criterion;
use purse_core::keys::SecretKey;
use purse_core::paycode::{self, NewPayCode};
use purse_ffi::{CounterStore, KeyPair, PayCodeRequest, PayCodes, PurseError};

#[derive(Default)]
struct MemoryStore(Mutex<HashMap<String, u32>>);

impl CounterStore for MemoryStore {
    fn load(&self, key_id: String) -> Result<Option<u32>, PurseError> {
        Ok(self.0.lock().unwrap().get(&key_id).copied())
    }

    fn save(&self, key_id: String, counter: u32) -> Result<(), PurseError> {
        self.0.lock().unwrap().insert(key_id, counter);
        Ok(())
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let key = SecretKey::from_bytes(&[42; 32]);
    let mut counter = 0;
    c.bench_function("core paycode::generate", |b| {
        b.iter(|| {
            counter += 1;
            let new = NewPayCode {
                counter,
                issued_at_unix: 1_750_000_000,
                validity_secs: 60,
                cap: None,
            };
            black_box(paycode::generate(&key, black_box(&new)).unwrap())
        })
    });
    let codes = PayCodes::new(
        KeyPair::generate().unwrap().signer(),
        std::sync::Arc::new(MemoryStore::default()),
    )
    .unwrap();
    c.bench_function("ffi PayCodes::generate (Rust store)", |b| {
        b.iter(|| black_box(codes.generate(PayCodeRequest::default()).unwrap()))
    });
    c.final_summary();

    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it, only to
    // check that everything runs.
    let (rounds, iterations) = if std::env::args().any(|arg| arg == "--bench") {
        (7, 10_000)
    } else {
        (1, 0)
    };
    let mut counter = 1_000_000;
    cpu_time("core paycode::generate", rounds, iterations, || {
        counter += 1;
        let new = NewPayCode {
            counter,
            issued_at_unix: 1_750_000_000,
            validity_secs: 60,
            cap: None,
        };
        black_box(paycode::generate(&key, black_box(&new)).unwrap());
    });
    cpu_time(
        "ffi PayCodes::generate (Rust store)",
        rounds,
        iterations,
        || {
            black_box(codes.generate(PayCodeRequest::default()).unwrap());
        },
    );
}

/// Nanoseconds this thread has run on a CPU, or `None` off Linux. The kernel brings the figure up
/// to date at scheduler ticks, so it may lag by a few milliseconds: rounds last half a second.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Median over `rounds` rounds of `iterations` calls of this thread's CPU time per call; with no
/// iterations, one call and no figure.
fn cpu_time(label: &str, rounds: usize, iterations: u32, mut call: impl FnMut()) {
    if iterations == 0 {
        call();
        return;
    }
    let mut per_call_us = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let Some(start) = thread_cpu_ns() else {
            println!("{label}: no /proc/thread-self/schedstat, no CPU time");
            return;
        };
        for _ in 0..iterations {
            call();
        }
        let spent = thread_cpu_ns().unwrap_or(start) - start;
        per_call_us.push(spent as f64 / 1000.0 / f64::from(iterations));
    }
    per_call_us.sort_by(f64::total_cmp);
    println!(
        "{label:<40} {:8.1} us/call CPU (median of {rounds} rounds x {iterations} calls)",
        per_call_us[rounds / 2]
    );
}
