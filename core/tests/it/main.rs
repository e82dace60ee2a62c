//! Integration tests of purse-core's public surface: one binary, one module per topic.

mod emv;
mod keys;
mod merchant_code;
mod money;
mod paycode;
mod qr;
mod util;
