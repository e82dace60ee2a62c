//! Tests for `emv` (being written).
