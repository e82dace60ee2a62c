//! Tests for `purse` CLI: qr_encode (being written).
