//! The actors of the money path. Wallet actors ([`wallet`]) serialize each wallet's debits; the
//! [`WalletRegistry`] finds or starts them. The ledger writer lives in `ledger::writer`. Actors
//! here never await one another: they send with `try_send` and get answers on one-shot channels
//! or as messages, so no wait cycle can form.

mod registry;
pub mod wallet;

pub(crate) use registry::WalletDeps;
pub use registry::WalletRegistry;
