//! HTTP tests: the real server started in-process on 127.0.0.1:0, driven over real HTTP, on
//! SQLite (a temporary directory) and on PostgreSQL (a database with a random name per test).
//! The crash and two-process tests drive the `purse` binary itself (see `util::ServeProcess`).
//! One binary with one module per topic and a shared `util`.

mod charges;
mod concurrency;
mod crash;
mod events;
mod idempotency;
mod identity;
mod ledger;
mod merchants;
mod model;
mod operations;
mod operator;
mod payments;
mod pos;
mod refunds;
mod risk;
mod security;
mod topups;
mod transfers;
mod two_process;
mod util;
mod wallets;
mod webhooks;
