//! Criterion benchmark `verify` (being written).

fn main() {}
