//! Public identifiers: a type prefix and 120 random bits, Stripe style (`wal_0k3m...`). The one
//! generator of ids in the server. It never encodes anything guessable (time, counters, user data)
//! in an id, so ids can be shown to anyone without leaking volume or order.

use rand_core::{OsRng, RngCore};

/// Random bytes per id: 15 bytes = 120 bits (DESIGN.md asks for at least 96), which encode to
/// exactly 24 base32 characters without padding.
const RANDOM_BYTES: usize = 15;

/// Length of the random part of an id, in characters.
pub const RANDOM_CHARS: usize = 24;

/// What an id names; each kind has its own prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    User,
    Device,
    Wallet,
    Transfer,
    Merchant,
    Payment,
    Charge,
    TopUp,
    Refund,
    Event,
    /// Refresh-token families and other server-internal records that still want an opaque id.
    Session,
}

impl IdKind {
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::User => "usr_",
            IdKind::Device => "dev_",
            IdKind::Wallet => "wal_",
            IdKind::Transfer => "txn_",
            IdKind::Merchant => "mer_",
            IdKind::Payment => "pay_",
            IdKind::Charge => "chg_",
            IdKind::TopUp => "top_",
            IdKind::Refund => "rfd_",
            IdKind::Event => "evt_",
            IdKind::Session => "ses_",
        }
    }
}

/// A new random id of `kind`, such as `txn_5g1q0v8n3c2k7d9e4f6h8j0m`.
pub fn new_id(kind: IdKind) -> String {
    let mut bytes = [0u8; RANDOM_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let mut id = String::with_capacity(4 + RANDOM_CHARS);
    id.push_str(kind.prefix());
    // Lower-case base32 ("0-9a-v"): URL- and QR-safe, case-insensitive readers cannot garble it.
    id.push_str(&data_encoding::BASE32_DNSSEC.encode(&bytes));
    id
}

/// True when `text` has the exact shape of an id of `kind` (prefix, 24 chars of the alphabet).
/// Handlers check this before touching storage so a malformed id is a plain 404.
pub fn is_valid(kind: IdKind, text: &str) -> bool {
    let Some(random) = text.strip_prefix(kind.prefix()) else {
        return false;
    };
    random.len() == RANDOM_CHARS
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_length_and_differ() {
        let a = new_id(IdKind::Transfer);
        let b = new_id(IdKind::Transfer);
        assert!(a.starts_with("txn_"));
        assert_eq!(a.len(), 4 + RANDOM_CHARS);
        assert_ne!(a, b);
        assert!(is_valid(IdKind::Transfer, &a));
        assert!(!is_valid(IdKind::Wallet, &a));
        assert!(!is_valid(IdKind::Transfer, "txn_short"));
        assert!(!is_valid(IdKind::Transfer, &a.to_uppercase()));
    }
}
