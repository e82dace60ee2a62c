//! Tests for `util` (being written).
