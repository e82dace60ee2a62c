//! The exported surface called from Rust, with the callback traits implemented in Rust: the
//! counter rules that are awkward to provoke from Kotlin or Python (a burned counter after a
//! signer failure, the end of the counter range, many threads or several `PayCodes` on one store,
//! a store that goes backwards).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use purse_core::paycode;
use purse_ffi::{
    COUNTER_BLOCK, CounterStore, KeyPair, PayCodeRequest, PayCodes, PurseError, Signer,
};

use crate::util::now_unix;

#[derive(Default)]
struct MemoryStore {
    counters: Mutex<HashMap<String, u32>>,
}

impl CounterStore for MemoryStore {
    fn load(&self, key_id: String) -> Result<Option<u32>, PurseError> {
        Ok(self.counters.lock().unwrap().get(&key_id).copied())
    }

    fn save(&self, key_id: String, counter: u32) -> Result<(), PurseError> {
        self.counters.lock().unwrap().insert(key_id, counter);
        Ok(())
    }
}

/// Delegates to a key pair, failing the first `fail_first` signatures; counts every request.
struct FlakySigner {
    key: Arc<KeyPair>,
    fail_first: usize,
    calls: AtomicUsize,
}

impl Signer for FlakySigner {
    fn public_key(&self) -> Result<String, PurseError> {
        Ok(self.key.public_key())
    }

    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PurseError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(PurseError::Signer {
                code: "keystore_locked".to_owned(),
                reason: "locked".to_owned(),
            });
        }
        self.key.clone().signer().sign(message)
    }
}

fn flaky(fail_first: usize) -> (Arc<KeyPair>, Arc<FlakySigner>) {
    let key = KeyPair::generate().unwrap();
    let signer = Arc::new(FlakySigner {
        key: key.clone(),
        fail_first,
        calls: AtomicUsize::new(0),
    });
    (key, signer)
}

#[test]
fn a_failed_signature_burns_its_counter() {
    let (key, signer) = flaky(1);
    let store = Arc::new(MemoryStore::default());
    let codes = PayCodes::new(signer.clone(), store.clone()).unwrap();
    let err = codes.generate(PayCodeRequest::default()).unwrap_err();
    assert!(matches!(err, PurseError::Signer { .. }), "{err:?}");
    assert_eq!(err.code(), "signer_failed");
    // Counter 1 was reserved (with its block) before the signer was asked; it is never handed
    // out again.
    assert_eq!(store.load(key.key_id()).unwrap(), Some(COUNTER_BLOCK));
    let code = codes.generate(PayCodeRequest::default()).unwrap();
    assert_eq!(code.counter, 2);
    let public_key = key.public_key().parse().unwrap();
    paycode::verify(&code.text, &public_key, Some(1), now_unix(), None).unwrap();
}

#[test]
fn an_exhausted_counter_stops_before_signing() {
    let (key, signer) = flaky(0);
    let store = Arc::new(MemoryStore::default());
    store.save(key.key_id(), u32::MAX).unwrap();
    let codes = PayCodes::new(signer.clone(), store.clone()).unwrap();
    let err = codes.generate(PayCodeRequest::default()).unwrap_err();
    assert!(matches!(err, PurseError::Storage { .. }), "{err:?}");
    assert_eq!(err.code(), "counter_exhausted");
    assert_eq!(signer.calls.load(Ordering::SeqCst), 0);
    assert_eq!(store.load(key.key_id()).unwrap(), Some(u32::MAX));
}

#[test]
fn the_last_counters_are_used_then_generation_stops() {
    let (key, signer) = flaky(0);
    let store = Arc::new(MemoryStore::default());
    store.save(key.key_id(), u32::MAX - 3).unwrap();
    let codes = PayCodes::new(signer.clone(), store.clone()).unwrap();
    let counters: Vec<u32> = (0..3)
        .map(|_| codes.generate(PayCodeRequest::default()).unwrap().counter)
        .collect();
    assert_eq!(counters, [u32::MAX - 2, u32::MAX - 1, u32::MAX]);
    let err = codes.generate(PayCodeRequest::default()).unwrap_err();
    assert_eq!(err.code(), "counter_exhausted");
    assert_eq!(signer.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn pay_codes_sharing_a_store_never_share_a_counter() {
    let (key, signer) = flaky(0);
    let store = Arc::new(MemoryStore::default());
    let first = PayCodes::new(signer.clone(), store.clone()).unwrap();
    let second = PayCodes::new(signer.clone(), store.clone()).unwrap();
    let mut counters = Vec::new();
    for _ in 0..40 {
        for codes in [&first, &second] {
            counters.push(codes.generate(PayCodeRequest::default()).unwrap().counter);
        }
    }
    let highest = *counters.iter().max().unwrap();
    counters.sort_unstable();
    counters.dedup();
    assert_eq!(counters.len(), 80, "a counter was handed out twice");
    // What is on disk covers everything handed out, so a restart continues above it.
    assert!(store.load(key.key_id()).unwrap() >= Some(highest));
    let restarted = PayCodes::new(signer, store).unwrap();
    assert!(
        restarted
            .generate(PayCodeRequest::default())
            .unwrap()
            .counter
            > highest
    );
}

#[test]
fn a_store_that_goes_backwards_does_not_bring_counters_back() {
    let (key, signer) = flaky(0);
    let store = Arc::new(MemoryStore::default());
    let codes = PayCodes::new(signer, store.clone()).unwrap();
    let before: Vec<u32> = (0..=COUNTER_BLOCK)
        .map(|_| codes.generate(PayCodeRequest::default()).unwrap().counter)
        .collect();
    // The app's data is cleared while it runs; enough codes follow to need a new block.
    store.counters.lock().unwrap().clear();
    let after: Vec<u32> = (0..COUNTER_BLOCK)
        .map(|_| codes.generate(PayCodeRequest::default()).unwrap().counter)
        .collect();
    let expected: Vec<u32> = (COUNTER_BLOCK + 2..=2 * COUNTER_BLOCK + 1).collect();
    assert_eq!(after, expected, "after {before:?}");
    // The new block was reserved above the old one, not from the cleared store's zero.
    assert_eq!(store.load(key.key_id()).unwrap(), Some(3 * COUNTER_BLOCK));
}

#[test]
fn threads_sharing_pay_codes_never_share_a_counter() {
    let (_, signer) = flaky(0);
    let codes = PayCodes::new(signer, Arc::new(MemoryStore::default())).unwrap();
    let mut counters: Vec<u32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..25)
                        .map(|_| codes.generate(PayCodeRequest::default()).unwrap().counter)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    counters.sort_unstable();
    assert_eq!(counters, (1..=100).collect::<Vec<u32>>());
}

#[test]
fn invalid_requests_take_no_counter() {
    let (key, signer) = flaky(0);
    let store = Arc::new(MemoryStore::default());
    let codes = PayCodes::new(signer, store.clone()).unwrap();
    let too_precise = PayCodeRequest {
        cap: Some(purse_ffi::Money {
            amount: "1.005".to_owned(),
            currency: "USD".to_owned(),
        }),
        ..PayCodeRequest::default()
    };
    assert_eq!(
        codes.generate(too_precise).unwrap_err().code(),
        "amount_too_precise"
    );
    let zero = PayCodeRequest {
        validity_secs: 0,
        ..PayCodeRequest::default()
    };
    assert_eq!(
        codes.generate(zero).unwrap_err().code(),
        "paycode_validity_invalid"
    );
    assert_eq!(store.load(key.key_id()).unwrap(), None);
}
