//! `purse-server`: the Purse HTTP API (actix-web), the money path (actix actors over a
//! double-entry, hash-chained ledger) and the operator CLI, as a library so that tests and
//! benchmarks start the very same app in-process. The binary `purse` (`main.rs`) is a thin shell.
//!
//! Code map:
//! - [`ledger`]: the double-entry, hash-chained ledger and the [`ledger::Ledger`] handle.
//! - [`actors`]: wallet actors and their registry (the ledger writer is in `ledger`).
//! - [`app`]: shared state, routes, middleware, server start and graceful shutdown.
//! - [`config`]: the configuration (TOML file + `PURSE_*` environment), zero-config defaults.
//! - [`db`]: the SQLite / PostgreSQL pool, embedded migrations, how one code base serves both.
//! - [`error`]: the one public error, [`error::ApiError`], rendered as `application/problem+json`.
//! - [`events`]: what happened to a user or merchant, stored in order for SSE and webhooks.
//! - [`webhooks`]: merchant webhook endpoints, signatures and the dispatcher that delivers events.
//! - [`pos`]: the web POS page at `/pos` (static, embedded).
//! - [`ids`]: prefixed random public ids (`usr_`, `wal_`, `txn_`, ...).
//! - [`recent`]: rows read recently and trusted for a few seconds (device keys, POS keys).
//! - [`metrics`]: Prometheus metrics served at `/metrics`.
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`.
//! - [`identity`]: users, passwords, tokens, devices, request signatures.
//! - [`wallets`]: wallets as their owners see them (open, list, balance, history).
//! - [`transfers`]: P2P transfers and their limits.
//! - [`idempotency`]: `Idempotency-Key` replay, 409 and 422 for POSTs that create or move.
//! - [`operations`]: operator actions (freeze, unfreeze, reverse) and their audit trail.
//! - [`merchants`]: merchants, their signing keys, POS API keys and signed QR codes.
//! - [`payments`]: payments to merchants (both QR flows) and refunds.
//! - [`risk`]: risk rules for payments and charges, and their rejections.
//! - [`topups`]: money in through payment providers (top-ups, provider webhooks, chargebacks).
//! - [`providers`]: the payment provider trait and the sandbox acquirer's HTTP client.
//! - [`sandbox`]: the built-in sandbox acquirer (a separate system, mounted under `/sandbox`).
//! - [`settlement`]: settlement report import, reconciliation, the settlement actor.
//! - [`cli`]: the `purse` sub-commands.
//! - [`bench`]: the load generators behind `purse bench` (loopback targets only).
//!
//! It never holds money in floats and never writes SQL outside a storage module (`db`, `*/store.rs`).

pub mod actors;
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod ledger;
pub mod merchants;
pub mod operations;
pub mod payments;
pub mod pos;
pub mod providers;
pub mod recent;
pub mod risk;
pub mod sandbox;
pub mod settlement;
pub mod topups;
pub mod transfers;
pub mod usage;
pub mod wallets;
pub mod webhooks;

pub mod metrics;
pub mod openapi;
