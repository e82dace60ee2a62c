//! `purse-ffi`: the mobile SDK surface over `purse-core`.
//!
//! Until the SDK issue lands this crate only re-exports the core so the workspace layout is in
//! place; the uniffi proc-macro surface (keys, QR, pay codes, the API client) will live here and
//! nowhere else: the core never links uniffi.

pub use purse_core as core;
