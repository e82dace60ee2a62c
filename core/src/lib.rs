//! `purse-core`: the Rust core shared by every Purse phone and by the server.
//!
//! It owns money (`money`), device keys (`keys`), the EMV merchant-presented QR format (`emv`),
//! signed Purse merchant codes (`merchant_code`), offline consumer pay codes (`paycode`) and QR
//! image rendering (`qr`). It never talks to a database and never links actix, sqlx or uniffi.
//! With the `client` feature (the SDK's) it also holds `client::PurseClient`, the blocking HTTP
//! client of the API; the server builds the core without it.
//!
//! Every error type here has a stable machine `code()` so the CLI, the HTTP API and the mobile
//! bindings can report the same failure the same way.

pub mod api;
#[cfg(feature = "client")]
pub mod client;
pub mod emv;
pub mod keys;
pub mod merchant_code;
pub mod money;
pub mod paycode;
pub mod qr;
