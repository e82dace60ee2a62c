//! `purse-ffi`: the mobile SDK surface over `purse-core`, exported with uniffi proc-macros to
//! Kotlin, Swift and Python. It owns the shape of that surface (thin objects over core types,
//! records, one public error) and nothing else: every rule (formats, signatures, money) is the
//! core's, and the core never links uniffi.
//!
//! The surface, by module:
//! - `keys`: [`KeyPair`] (generate, key id, public key, encrypted backup and restore) and the
//!   [`Signer`] trait a platform keystore implements in Kotlin or Swift;
//! - `emv`: [`decode_emv`], any EMV merchant-presented payload as a typed record plus JSON;
//! - `merchant_code`: sign, read and verify signed Purse merchant codes;
//! - `paycode`: [`PayCodes`], which generates offline pay codes with counters reserved through
//!   the app's [`CounterStore`] before any code is signed with them, and pay code verification;
//! - `qr`: SVG and PNG rendering;
//! - `client`: [`PurseClient`], the blocking API client (session with automatic refresh, device,
//!   wallets, history, transfers, events) and the [`SessionStore`] the app keeps the session in;
//! - `error`: [`PurseError`], the one error type that crosses the boundary. Every exported call
//!   runs inside `error::guard`, so a Rust panic becomes `PurseError::Internal`, never a crash.
//!
//! ```
//! use purse_ffi::{KeyPair, decode_emv};
//!
//! let key = KeyPair::generate().unwrap();
//! assert_eq!(key.key_id().len(), 16);
//! let code = decode_emv("00020101021129370016A000000677010111011300668912345675802TH5303764630429C1".into())
//!     .unwrap();
//! assert_eq!(code.country, "TH");
//! ```

mod client;
mod emv;
mod error;
mod keys;
mod merchant_code;
mod money;
mod paycode;
mod qr;

pub use client::{
    ClientConfig, Device, Event, EventPage, FundResult, HistoryItem, HistoryPage, Payee,
    PurseClient, SavedSession, SessionStore, TopUp, TopUpResult, Transfer, TransferRequest,
    TransferResult, User, Wallet, new_idempotency_key,
};
pub use emv::{EmvCode, EmvField, EmvObject, decode_emv};
pub use error::PurseError;
pub use keys::{KeyPair, Signer};
pub use merchant_code::{
    MerchantCode, MerchantCodeClaims, NewMerchantCode, read_merchant_code, sign_merchant_code,
    verify_merchant_code,
};
pub use money::Money;
pub use paycode::{
    COUNTER_BLOCK, CounterStore, PayCode, PayCodeRequest, PayCodes, read_pay_code, verify_pay_code,
};
pub use qr::{render_qr_png, render_qr_svg};

uniffi::setup_scaffolding!("purse");

/// The SDK version (the workspace version), for bug reports and logs.
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
