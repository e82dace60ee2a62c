//! Criterion benchmark `verify`: full pay code and merchant code verification (decode, checks,
//! Ed25519) against a raw ed25519-dalek `verify_strict` of a message of the same size, in one run.
//! Target: each full verification costs at most 1.15× the raw signature check.
//!
//! After criterion's report it prints the ratios, measured by alternating batches of the two
//! (so frequency scaling and other load on the machine hit both sides alike):
//!
//! ```text
//! cargo bench -p purse-core --bench verify
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use ed25519_dalek::{Signer as _, SigningKey};
use purse_core::keys::SecretKey;
use purse_core::merchant_code::{self, CodeKind, NewMerchantCode};
use purse_core::money::{Amount, Currency};
use purse_core::paycode::{self, NewPayCode};

const NOW: u64 = 1_750_000_000;
const SEED: [u8; 32] = [42; 32];

/// A capped pay code (the largest kind) and the size of the message its signature covers.
fn pay_code(key: &SecretKey) -> (String, usize) {
    let usd = Currency::from_code("USD").unwrap();
    let new = NewPayCode {
        counter: 1_000,
        issued_at_unix: NOW,
        validity_secs: 60,
        cap: Some(Amount::parse("250.00", usd).unwrap()),
    };
    let text = paycode::generate(key, &new).unwrap();
    // "purse-paycode-v1:" (17 bytes) + the 26-byte body.
    (text, paycode::SIGNING_CONTEXT.len() + 26)
}

/// A dynamic merchant code and the size of its signed prefix.
fn merchant_payload(key: &SecretKey) -> (String, usize) {
    let eur = Currency::from_code("EUR").unwrap();
    let new = NewMerchantCode {
        merchant_id: "mer_7Hq2LmX9pR4sT6vW",
        merchant_name: "Corner Coffee",
        city: "Lisbon",
        country: "PT",
        mcc: "5814",
        currency: eur,
        kind: CodeKind::Dynamic {
            amount: Amount::parse("12.50", eur).unwrap(),
            reference: "order-1042".to_owned(),
            expires_at_unix: NOW + 900,
        },
    };
    let payload = merchant_code::generate(key, &new).unwrap();
    let signed = payload.find("80970009app.purse").unwrap();
    (payload, signed)
}

/// A raw ed25519-dalek signature check of a `len`-byte message.
struct Raw {
    key: ed25519_dalek::VerifyingKey,
    message: Vec<u8>,
    signature: ed25519_dalek::Signature,
}

impl Raw {
    fn new(len: usize) -> Raw {
        let signing = SigningKey::from_bytes(&SEED);
        let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let signature = signing.sign(&message);
        Raw {
            key: signing.verifying_key(),
            message,
            signature,
        }
    }

    fn verify(&self) -> bool {
        self.key
            .verify_strict(black_box(&self.message), black_box(&self.signature))
            .is_ok()
    }
}

/// Median over `rounds` of (time of `batch` calls of `full`) / (time of `batch` calls of `raw`).
fn ratio(rounds: usize, batch: usize, mut full: impl FnMut() -> bool, raw: &Raw) -> f64 {
    let time = |f: &mut dyn FnMut() -> bool| {
        let start = Instant::now();
        for _ in 0..batch {
            assert!(f());
        }
        start.elapsed()
    };
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|_| {
            let raw_time: Duration = time(&mut || raw.verify());
            let full_time: Duration = time(&mut full);
            full_time.as_secs_f64() / raw_time.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn main() {
    let key = SecretKey::from_bytes(&SEED);
    let public = key.public_key();
    let (code, code_signed_len) = pay_code(&key);
    let (payload, payload_signed_len) = merchant_payload(&key);
    let charge = Amount::parse("99.99", Currency::from_code("USD").unwrap()).unwrap();
    let verify_pay_code =
        || paycode::verify(black_box(&code), &public, Some(999), NOW + 5, Some(&charge)).is_ok();
    let verify_merchant_code =
        || merchant_code::verify(black_box(&payload), &public, NOW + 5).is_ok();
    let raw_pay = Raw::new(code_signed_len);
    let raw_merchant = Raw::new(payload_signed_len);
    assert!(
        verify_pay_code() && verify_merchant_code() && raw_pay.verify() && raw_merchant.verify()
    );

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("paycode");
    group.bench_function("verify_full", |b| b.iter(verify_pay_code));
    group.bench_function(format!("raw_verify_strict_{code_signed_len}_bytes"), |b| {
        b.iter(|| raw_pay.verify())
    });
    group.finish();
    let mut group = c.benchmark_group("merchant_code");
    group.bench_function("verify_full", |b| b.iter(verify_merchant_code));
    group.bench_function(
        format!("raw_verify_strict_{payload_signed_len}_bytes"),
        |b| b.iter(|| raw_merchant.verify()),
    );
    group.finish();
    c.final_summary();

    // `cargo bench -- --test` (and CI smoke runs) only check that everything runs.
    let quick = std::env::args().any(|arg| arg == "--test");
    let (rounds, batch) = if quick { (1, 10) } else { (21, 500) };
    let pay = ratio(rounds, batch, verify_pay_code, &raw_pay);
    let merchant = ratio(rounds, batch, verify_merchant_code, &raw_merchant);
    println!(
        "ratio paycode verify / raw verify_strict ({code_signed_len} bytes): {pay:.3} (target <= 1.15)"
    );
    println!(
        "ratio merchant_code verify / raw verify_strict ({payload_signed_len} bytes): {merchant:.3} (target <= 1.15)"
    );
}
