//! TODO(owner): module `qr` (being written).
