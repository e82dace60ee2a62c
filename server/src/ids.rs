//! Public identifiers: a type prefix and 120 random bits, Stripe style (`wal_0k3m...`). The one
//! generator of ids in the server. It never encodes counters or user data in an id, so ids can be
//! shown to anyone without leaking volume.
//!
//! Transfer, charge and event ids are the exception to "random only" ([`IdKind::sortable`]):
//! [`new_sortable_id`] puts the creation time (milliseconds, which the parties see anyway as
//! `created_at`) before 96 random bits, so the unique indexes on those ids, and on an event's
//! dedupe key `charge:<charge id>`, grow at their right edge instead of dirtying a random page per
//! insert. Those rows are what the ledger writer appends in every batch, and each dirtied page is a
//! 4 KiB WAL frame of the batch's commit (docs/benchmarks.md, 2026-12-03 15:00).

use rand_core::{OsRng, RngCore};

/// Random bytes per id: 15 bytes = 120 bits (DESIGN.md asks for at least 96), which encode to
/// exactly 24 base32 characters without padding.
const RANDOM_BYTES: usize = 15;

/// Length of the random part of an id, in characters.
pub const RANDOM_CHARS: usize = 24;

/// Characters of a sortable id after its prefix: 10 of time, 20 of randomness (96 bits).
pub const SORTABLE_CHARS: usize = 30;

/// Characters encoding the millisecond timestamp of a sortable id (50 bits: until year 37648).
const TIME_CHARS: usize = 10;

/// The alphabet of `BASE32_DNSSEC`, in ASCII order, so text order is numeric order.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

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
    /// Audit events of operator actions.
    Audit,
    /// POS API keys of merchants.
    ApiKey,
    /// QR codes a merchant had the server make.
    Qr,
    /// Risk-rule rejections.
    RiskRejection,
    /// Refresh-token families and other server-internal records that still want an opaque id.
    Session,
    /// Lines of a merchant's webhook delivery log.
    WebhookAttempt,
}

impl IdKind {
    /// The kinds made by [`new_sortable_id`]: rows the ledger writer appends in every batch.
    pub fn sortable(self) -> bool {
        matches!(self, IdKind::Transfer | IdKind::Charge | IdKind::Event)
    }

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
            IdKind::Audit => "aud_",
            IdKind::ApiKey => "key_",
            IdKind::Qr => "qr_",
            IdKind::RiskRejection => "rsk_",
            IdKind::Session => "ses_",
            IdKind::WebhookAttempt => "wha_",
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

/// A new id of `kind` that sorts by creation time: 10 characters of unix milliseconds, then 96
/// random bits (20 characters), such as `txn_01jq3v8n2k` + `5g1q0v8n3c2k7d9e4f6h`.
pub fn new_sortable_id(kind: IdKind) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    let mut id = String::with_capacity(4 + SORTABLE_CHARS);
    id.push_str(kind.prefix());
    for position in (0..TIME_CHARS).rev() {
        let digit = (millis >> (5 * position)) & 31;
        id.push(char::from(ALPHABET[digit as usize]));
    }
    id.push_str(&data_encoding::BASE32_DNSSEC.encode(&bytes));
    debug_assert_eq!(id.len(), kind.prefix().len() + SORTABLE_CHARS);
    id
}

/// True when `text` has the exact shape of an id of `kind`: its prefix, then 24 characters of the
/// alphabet (or 30 for the sortable kinds). Handlers check this before touching storage so
/// a malformed id is a plain 404.
pub fn is_valid(kind: IdKind, text: &str) -> bool {
    let Some(rest) = text.strip_prefix(kind.prefix()) else {
        return false;
    };
    let length_ok = rest.len() == RANDOM_CHARS || (kind.sortable() && rest.len() == SORTABLE_CHARS);
    length_ok && rest.bytes().all(|b| ALPHABET.contains(&b))
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

    #[test]
    fn sortable_ids_sort_by_time_and_stay_random() {
        let first = new_sortable_id(IdKind::Transfer);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_sortable_id(IdKind::Transfer);
        assert!(first < second, "{first} then {second}");
        assert_eq!(first.len(), 4 + SORTABLE_CHARS);
        assert!(is_valid(IdKind::Transfer, &first));
        for kind in [IdKind::Charge, IdKind::Event] {
            let id = new_sortable_id(kind);
            assert!(is_valid(kind, &id), "{id}");
            // Ids made before these kinds became sortable stay valid.
            assert!(is_valid(kind, &new_id(kind)));
        }
        assert!(!is_valid(IdKind::Wallet, &new_sortable_id(IdKind::Wallet)));
        // Same millisecond, different randomness.
        let same: std::collections::HashSet<String> = (0..100)
            .map(|_| new_sortable_id(IdKind::Transfer))
            .collect();
        assert_eq!(same.len(), 100);
    }
}
