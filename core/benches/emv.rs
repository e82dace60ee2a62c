//! Criterion benchmark `emv` (being written).

fn main() {}
