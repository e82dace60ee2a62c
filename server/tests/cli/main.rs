//! Tests of the `purse` binary's command line: one binary, one module per command group.

mod device;
mod keys;
mod paycode;
mod qr_decode;
mod qr_encode;
mod qr_interop;
mod util;
