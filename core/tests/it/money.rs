//! Tests for `money` (being written).
