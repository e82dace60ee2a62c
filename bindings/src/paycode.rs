//! Offline pay codes across the FFI. `PayCodes` generates them for one device key with a counter
//! that never repeats, even across app restarts and crashes: counters are reserved in blocks of
//! [`COUNTER_BLOCK`], and the end of a block is saved through the app's `CounterStore` BEFORE any
//! counter in it is signed, so a code can only ever exist for a counter that is already covered
//! on disk. A crash or a restart wastes the rest of a block, which is harmless (verifiers only
//! need counters to increase, and 2^32 counters last a phone forever); one durable write per block
//! instead of per code also spares the phone an fsync on every tap. It also verifies pay codes (a
//! merchant's till). The byte layout and the checks are `purse_core::paycode`'s.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use purse_core::keys::PublicKey;
use purse_core::paycode::{self, NewPayCode, PaycodeError};

use crate::error::{Failure, PurseError, guard};
use crate::keys::{KeyPair, Signer, SignerAdapter};
use crate::money::Money;

/// How many counters one `CounterStore::save` reserves.
pub const COUNTER_BLOCK: u32 = 16;

/// Where the app keeps, per device key, the highest pay code counter reserved so far (a file,
/// SharedPreferences with `commit()`, the Keychain...). The SDK calls it once per
/// [`COUNTER_BLOCK`] codes. `save` must not return before the value is durable: the SDK signs
/// with a counter only after `save` covered it, and that is what keeps counters unique across
/// restarts. Throw a `PurseError` when the store cannot; no code is made then.
#[uniffi::export(foreign)]
pub trait CounterStore: Send + Sync {
    /// The counter last saved for `key_id`, or nothing if this key never made a pay code.
    fn load(&self, key_id: String) -> Result<Option<u32>, PurseError>;

    /// Durably records `counter` as the highest counter reserved by `key_id`.
    fn save(&self, key_id: String, counter: u32) -> Result<(), PurseError>;
}

/// Options for one pay code; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayCodeRequest {
    /// The most a merchant may charge with this code.
    #[uniffi(default = None)]
    pub cap: Option<Money>,
    /// Seconds the code stays valid, 1 to 255.
    #[uniffi(default = 60)]
    pub validity_secs: u32,
    /// Issue time in unix seconds; the device clock when absent (set it only in tests and demos).
    #[uniffi(default = None)]
    pub issued_at_unix: Option<u64>,
}

// The foreign default above must be the core's default.
const _: () = assert!(paycode::VALIDITY_SECS_DEFAULT == 60);

impl Default for PayCodeRequest {
    fn default() -> PayCodeRequest {
        PayCodeRequest {
            cap: None,
            validity_secs: u32::from(paycode::VALIDITY_SECS_DEFAULT),
            issued_at_unix: None,
        }
    }
}

/// A pay code and what it says. From [`PayCodes::generate`] and [`verify_pay_code`] every field
/// is proven; from [`read_pay_code`] they are only claims.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PayCode {
    /// The code text (`PC1:` + base45), to show as a QR code.
    pub text: String,
    /// Key id of the device key that signed it.
    pub key_id: String,
    pub counter: u32,
    pub issued_at_unix: u64,
    /// Nominal end of validity; verifiers allow 30 s of clock skew beyond it.
    pub expires_at_unix: u64,
    pub cap: Option<Money>,
}

/// Generates pay codes for one device key. Calls are serialised, so threads never share a
/// counter, and several `PayCodes` over one store in one process reserve disjoint blocks.
#[derive(uniffi::Object)]
pub struct PayCodes {
    signer: SignerAdapter,
    store: Arc<dyn CounterStore>,
    /// The counters of the current block not handed out yet. Every update is one assignment, so a
    /// panic cannot leave it half written and a poisoned lock is simply taken over.
    block: Mutex<Block>,
}

/// Counters `next..=last` are reserved on disk and not used yet (empty when `next > last`).
/// `u64` so that the end of the `u32` range needs no special case.
#[derive(Clone, Copy)]
struct Block {
    next: u64,
    last: u64,
}

/// Held while a block is reserved (load, then save), so two `PayCodes` over the same store in
/// this process never read the same last counter. Reservations are rare, so one lock for all is
/// enough.
static RESERVING: Mutex<()> = Mutex::new(());

#[uniffi::export]
impl PayCodes {
    /// Reads the signer's public key once; `Invalid(key_invalid)` if it is not an Ed25519 key.
    #[uniffi::constructor]
    pub fn new(
        signer: Arc<dyn Signer>,
        store: Arc<dyn CounterStore>,
    ) -> Result<Arc<PayCodes>, PurseError> {
        guard(|| {
            Ok(Arc::new(PayCodes {
                signer: SignerAdapter::new(signer)?,
                store,
                block: Mutex::new(Block { next: 1, last: 0 }),
            }))
        })
    }

    /// Pay codes signed by an in-memory [`KeyPair`]: the same codes and counters as
    /// `new(key.signer(), store)`, but the SDK does not re-check each signature (a `KeyPair`'s
    /// verify by construction; a platform keystore's are checked), which is about a third of the
    /// cost of a code.
    #[uniffi::constructor]
    pub fn with_key_pair(
        key: Arc<KeyPair>,
        store: Arc<dyn CounterStore>,
    ) -> Result<Arc<PayCodes>, PurseError> {
        guard(|| {
            Ok(Arc::new(PayCodes {
                signer: SignerAdapter::Local(key),
                store,
                block: Mutex::new(Block { next: 1, last: 0 }),
            }))
        })
    }

    /// Key id of the device key, the key `CounterStore` is called with.
    pub fn key_id(&self) -> String {
        self.signer.key_id().to_string()
    }

    /// Makes the next pay code: takes the next reserved counter (reserving a new block through
    /// the store first when needed), then signs. A store failure is
    /// `Storage(counter_store_failed)` and a signer failure `Signer(signer_failed)`; either way no
    /// code exists for that counter.
    pub fn generate(&self, request: PayCodeRequest) -> Result<PayCode, PurseError> {
        guard(|| {
            // Everything that can be refused is checked before a counter is taken.
            let cap = request.cap.as_ref().map(Money::to_amount).transpose()?;
            let validity_secs = u8::try_from(request.validity_secs)
                .ok()
                .filter(|&secs| secs > 0)
                .ok_or(PaycodeError::ValidityInvalid)?;
            let issued_at_unix = match request.issued_at_unix {
                Some(at) => at,
                None => now_unix()?,
            };
            if u32::try_from(issued_at_unix).is_err() {
                return Err(PaycodeError::IssuedAtOutOfRange { issued_at_unix }.into());
            }
            let counter = self.take_counter()?;
            let new = NewPayCode {
                counter,
                issued_at_unix,
                validity_secs,
                cap,
            };
            let text = paycode::generate(&self.signer, &new)?;
            let code = paycode::decode(&text)?;
            Ok(PayCode::new(text, code.claims()))
        })
    }
}

impl PayCodes {
    /// The next counter of the current block; when the block is used up, first reserves the
    /// next one: load the last saved counter, durably save the end of the new block, and only
    /// then hand out its first counter.
    fn take_counter(&self) -> Result<u32, Failure> {
        let mut block = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        if block.next > block.last {
            *block = self.reserve_block(block.last)?;
        }
        let counter = u32::try_from(block.next).map_err(|_| Failure::CounterExhausted)?;
        block.next += 1;
        Ok(counter)
    }

    /// `reserved` is the end of this object's previous block: a store that went backwards (data
    /// cleared while the app runs) must not make it hand out those counters again.
    fn reserve_block(&self, reserved: u64) -> Result<Block, Failure> {
        let _reserving = RESERVING.lock().unwrap_or_else(PoisonError::into_inner);
        let key_id = self.key_id();
        let loaded = self
            .store
            .load(key_id.clone())
            .map_err(Failure::CounterStore)?
            .unwrap_or(0);
        // `reserved` never exceeds u32::MAX: it was a u32 when it was saved.
        let saved = loaded.max(u32::try_from(reserved).unwrap_or(u32::MAX));
        if saved == u32::MAX {
            return Err(Failure::CounterExhausted);
        }
        let last = saved.saturating_add(COUNTER_BLOCK);
        self.store
            .save(key_id, last)
            .map_err(Failure::CounterStore)?;
        Ok(Block {
            next: u64::from(saved) + 1,
            last: u64::from(last),
        })
    }
}

impl PayCode {
    fn new(text: String, claims: &paycode::PayCode) -> PayCode {
        PayCode {
            text,
            key_id: claims.key_id().to_string(),
            counter: claims.counter(),
            issued_at_unix: claims.issued_at_unix(),
            expires_at_unix: claims.expires_at_unix(),
            cap: claims.cap().as_ref().map(Money::from_amount),
        }
    }
}

fn now_unix() -> Result<u64, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .map_err(|_| Failure::ClockInvalid)
}

/// Reads a pay code without verifying it, to learn which device key (`key_id`) to look up.
#[uniffi::export]
pub fn read_pay_code(code: String) -> Result<PayCode, PurseError> {
    guard(|| {
        let decoded = paycode::decode(&code)?;
        Ok(PayCode::new(code, decoded.claims()))
    })
}

/// Verifies a pay code the way a till does: the device's public key (base64url), the last
/// counter accepted from that device (none if it never paid), the time, and the amount about to
/// be charged (checked against the cap). Refusals are `Rejected` with codes such as
/// `paycode_tampered`, `paycode_replayed`, `paycode_expired`, `paycode_over_limit`.
#[uniffi::export]
pub fn verify_pay_code(
    code: String,
    device_public_key: String,
    last_counter: Option<u32>,
    now_unix: u64,
    charge: Option<Money>,
) -> Result<PayCode, PurseError> {
    guard(|| {
        let key: PublicKey = device_public_key.parse()?;
        let charge = charge.as_ref().map(Money::to_amount).transpose()?;
        let verified = paycode::verify(&code, &key, last_counter, now_unix, charge.as_ref())?;
        Ok(PayCode::new(code, &verified))
    })
}
