//! TODO(owner): module `merchant_code` (being written).
