//! Tests for `keys` (being written).
