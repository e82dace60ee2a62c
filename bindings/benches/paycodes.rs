//! Criterion benchmark `paycodes`: pay code generation in Rust, the baseline of the Kotlin figure
//! (`scripts/bench-bindings`): the core's `paycode::generate` (sign, then check the signature), and
//! the SDK's `PayCodes::generate` with a Rust counter store (adds the counter load and save, the
//! signer adapter and the result record). The difference between the Kotlin figure and the second
//! is what the boundary costs.
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
}
