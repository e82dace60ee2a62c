//! Tests for `purse` CLI: qr_decode (being written).
