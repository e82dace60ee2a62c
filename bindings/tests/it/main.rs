//! The binding tests: the generated Kotlin (on the JVM through JNA) and Python bindings are
//! compiled and driven as an app would drive them, the generated Swift is syntax-checked, and the
//! Rust side finishes their checks with the core. One binary, one module per topic; `util` holds
//! what they share. Kotlin, Python and Swift need tools outside Rust (scripts/install-test-deps):
//! without them a test says why it checks nothing, and with `CI=true` it fails instead.

mod kotlin;
mod python;
mod rust_surface;
mod server;
mod swift;
mod util;
