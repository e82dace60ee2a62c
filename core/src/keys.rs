//! Keys: Ed25519 key pairs, key ids, signatures, the `Signer` seam for platform keystores, the
//! key file text and the password-encrypted backup envelope. It never logs, prints or `Debug`s a
//! secret, and never decides what a signature means (see `merchant_code`, `paycode`).
//!
//! ```
//! use purse_core::keys::{self, SecretKey, Signer};
//!
//! let secret = SecretKey::generate();
//! let signature = secret.sign(b"pay 12.50 USD").unwrap();
//! secret.public_key().verify(b"pay 12.50 USD", &signature).unwrap();
//!
//! let envelope = keys::backup(&secret, "correct horse battery staple").unwrap();
//! let restored = keys::restore(&envelope, "correct horse battery staple").unwrap();
//! assert_eq!(restored.key_id(), secret.key_id());
//! ```

use std::fmt;
use std::str::FromStr;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Why a key, a signature or a backup was refused. `code()` is stable and machine readable.
/// Messages never contain key material or passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "invalid public key: expected 32 bytes (43 base64url characters) of a valid Ed25519 point"
    )]
    KeyInvalid,
    #[error("invalid key id: expected 16 lowercase hexadecimal characters")]
    KeyIdInvalid,
    #[error("invalid signature")]
    SignatureInvalid,
    #[error(
        "invalid secret key text: expected one line \"{SECRET_TEXT_PREFIX}<43 base64url characters>\""
    )]
    SecretKeyInvalid,
    #[error("the signer failed: {reason}")]
    SignerFailed { reason: String },
    #[error("password too short: a backup password needs at least {PASSWORD_CHARS_MIN} characters")]
    PasswordTooShort,
    #[error("password too long: at most {PASSWORD_BYTES_MAX} bytes")]
    PasswordTooLong,
    #[error("wrong password (or a backup altered in a way only the password could detect)")]
    BackupWrongPassword,
    #[error("corrupted backup: {reason}")]
    BackupCorrupted { reason: &'static str },
    #[error("unsupported backup version: this build reads \"{BACKUP_PREFIX}\" backups")]
    BackupUnsupportedVersion,
}

impl KeyError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::KeyInvalid => "key_invalid",
            KeyError::KeyIdInvalid => "key_id_invalid",
            KeyError::SignatureInvalid => "signature_invalid",
            KeyError::SecretKeyInvalid => "secret_key_invalid",
            KeyError::SignerFailed { .. } => "signer_failed",
            KeyError::PasswordTooShort => "password_too_short",
            KeyError::PasswordTooLong => "password_too_long",
            KeyError::BackupWrongPassword => "backup_wrong_password",
            KeyError::BackupCorrupted { .. } => "backup_corrupted",
            KeyError::BackupUnsupportedVersion => "backup_unsupported_version",
        }
    }
}

fn corrupted(reason: &'static str) -> KeyError {
    KeyError::BackupCorrupted { reason }
}

// ---------------------------------------------------------------------------------------------
// Public keys, key ids, signatures

/// An Ed25519 public key: 32 bytes of a valid, non-small-order curve point. Text form is
/// base64url without padding (43 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 43;

    /// Reads 32 bytes. Points of small order ("weak" keys, which verify forged signatures under
    /// lenient rules) are refused here, so no such key is ever stored.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::KeyInvalid)?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::KeyInvalid)?;
        if key.is_weak() {
            return Err(KeyError::KeyInvalid);
        }
        Ok(PublicKey(key))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// First 8 bytes of SHA-256 of the 32 public key bytes.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Checks `signature` over `message` with `verify_strict`: non-canonical signatures and
    /// small-order components are refused, so one message has one valid signature encoding.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), KeyError> {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| KeyError::SignatureInvalid)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<PublicKey, KeyError> {
        if text.len() != PublicKey::TEXT_LEN {
            return Err(KeyError::KeyInvalid);
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| KeyError::KeyInvalid)?;
        PublicKey::from_bytes(&bytes)
    }
}

/// An Ed25519 signature, 64 bytes. Text form is base64url without padding (86 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 86;

    /// Reads exactly 64 bytes. Whether they are a valid signature is only known to `verify`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Signature, KeyError> {
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| KeyError::SignatureInvalid)?;
        Ok(Signature(bytes))
    }

    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Signature, KeyError> {
        if text.len() != Signature::TEXT_LEN {
            return Err(KeyError::SignatureInvalid);
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| KeyError::SignatureInvalid)?;
        Signature::from_bytes(&bytes)
    }
}

/// A short, stable name for a public key: the first 8 bytes of SHA-256(public key bytes), shown
/// as 16 lowercase hex characters. Short enough for QR payloads and logs; 64 bits make an
/// accidental collision between a merchant's or a user's keys practically impossible, and a
/// deliberate one buys nothing because signatures are always checked against the full key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// Length of the text form.
    pub const TEXT_LEN: usize = 16;

    pub fn to_bytes(&self) -> [u8; 8] {
        self.0
    }

    pub fn from_bytes(bytes: [u8; 8]) -> KeyId {
        KeyId(bytes)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Lowercase only: one id has one spelling, so ids compare as text in logs and databases.
impl FromStr for KeyId {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<KeyId, KeyError> {
        if text.len() != KeyId::TEXT_LEN {
            return Err(KeyError::KeyIdInvalid);
        }
        let mut id = [0u8; 8];
        HEXLOWER
            .decode_mut(text.as_bytes(), &mut id)
            .map_err(|_| KeyError::KeyIdInvalid)?;
        Ok(KeyId(id))
    }
}

/// Serde as text for the three public types: they travel in JSON bodies and config files.
macro_rules! serde_as_text {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
serde_as_text!(PublicKey, Signature, KeyId);

// ---------------------------------------------------------------------------------------------
// Secret keys and the signer seam

/// Prefix of the key file text. The full text is one line:
///
/// ```text
/// purse-ed25519-secret-v1:<base64url without padding of the 32-byte Ed25519 seed>
/// ```
///
/// 67 characters in all; readers accept surrounding whitespace (a trailing newline) and nothing
/// else. The prefix names the algorithm and the version so a file is recognisable by eye and a
/// future format can be told apart.
pub const SECRET_TEXT_PREFIX: &str = "purse-ed25519-secret-v1:";

/// An Ed25519 secret key. The seed is wiped from memory when the value is dropped (by
/// `ed25519_dalek::SigningKey`'s `ZeroizeOnDrop`); it is deliberately not `Clone`, so copies
/// only exist where code asks for one by name, and `Debug` shows the key id only.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::generate(&mut OsRng))
    }

    /// A key from a known 32-byte seed (test vectors, restore).
    pub fn from_bytes(bytes: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(bytes))
    }

    /// The key file content (see [`SECRET_TEXT_PREFIX`]), without a trailing newline.
    pub fn to_text(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        // Capacity up front so the string never reallocates and leaves a copy behind.
        let mut text = Zeroizing::new(String::with_capacity(SECRET_TEXT_PREFIX.len() + 43));
        text.push_str(SECRET_TEXT_PREFIX);
        BASE64URL_NOPAD.encode_append(&seed[..], &mut text);
        text
    }

    /// Reads the key file content written by [`SecretKey::to_text`].
    pub fn from_text(text: &str) -> Result<SecretKey, KeyError> {
        let encoded = text
            .trim_ascii()
            .strip_prefix(SECRET_TEXT_PREFIX)
            .ok_or(KeyError::SecretKeyInvalid)?;
        if encoded.len() != 43 {
            return Err(KeyError::SecretKeyInvalid);
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        BASE64URL_NOPAD
            .decode_mut(encoded.as_bytes(), &mut seed[..])
            .map_err(|_| KeyError::SecretKeyInvalid)?;
        Ok(SecretKey::from_bytes(&seed))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Something that signs with an Ed25519 key. `SecretKey` is the in-memory implementation; a
/// platform keystore (Android Keystore, Secure Enclave via a callback) can sign instead, so the
/// secret never has to enter this process.
pub trait Signer: Send + Sync {
    fn public_key(&self) -> PublicKey;

    fn key_id(&self) -> KeyId {
        self.public_key().key_id()
    }

    /// Signs `message`. A keystore that cannot (locked, user cancelled) answers `SignerFailed`.
    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError>;

    /// True only when every signature `sign` returns verifies with `public_key` by construction
    /// (an Ed25519 implementation this crate trusts signing with the very key it reports), so
    /// code makers may skip checking it. Keystores outside this crate keep the default, `false`.
    fn signatures_verified(&self) -> bool {
        false
    }
}

impl Signer for SecretKey {
    fn public_key(&self) -> PublicKey {
        SecretKey::public_key(self)
    }

    /// ed25519-dalek signing with the key whose public half is `public_key`.
    fn signatures_verified(&self) -> bool {
        true
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        Ok(Signature(self.0.sign(message).to_bytes()))
    }
}

// ---------------------------------------------------------------------------------------------
// Encrypted backup envelope

/// Text prefix of a version-1 backup envelope; everything after it is base64url.
pub const BACKUP_PREFIX: &str = "purse-backup-v1.";

/// Shortest backup password, in Unicode characters after NFC normalization. Argon2id slows
/// guessing down; it cannot rescue a password from a small space.
pub const PASSWORD_CHARS_MIN: usize = 12;

/// Longest password, in UTF-8 bytes: a bound on work and memory, far above any passphrase.
pub const PASSWORD_BYTES_MAX: usize = 1024;

/// Longest envelope text accepted by [`restore`]; a v1 envelope is 154 characters.
pub const ENVELOPE_CHARS_MAX: usize = 1024;

/// Argon2id cost parameters as recorded in an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

/// What [`backup`] writes: the OWASP recommendation for argon2id (19 MiB, 2 passes, 1 lane).
const KDF_DEFAULT: KdfParams = KdfParams {
    m_cost_kib: 19_456,
    t_cost: 2,
    p_cost: 1,
};

/// What [`restore`] accepts. The floor is the weakest of OWASP's five equivalent argon2id
/// configurations (7 MiB x 5 passes ... 46 MiB x 1 pass, all about 36 MiB-passes of work), so an
/// envelope may use any of them but nothing cheaper to attack. The ceilings stop a hostile
/// envelope from asking for gigabytes of memory or minutes of CPU: the worst accepted case
/// (256 MiB, 10 passes) took 3.7 s on a 2-core x86-64 development machine (the default takes
/// 0.06 s there); a phone is a few times slower.
const M_COST_KIB_MIN: u32 = 7_168;
const M_COST_KIB_MAX: u32 = 262_144;
const T_COST_MIN: u32 = 1;
const T_COST_MAX: u32 = 10;
const P_COST_MIN: u32 = 1;
const P_COST_MAX: u32 = 4;
/// Memory x passes, in KiB: OWASP's weakest configuration (7168 KiB x 5).
const WORK_KIB_MIN: u64 = 35_840;

const FORMAT_VERSION: u8 = 1;
const KDF_ARGON2ID_V13: u8 = 1;
const AEAD_XCHACHA20_POLY1305: u8 = 1;
const HEADER_LEN: usize = 15;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SEED_LEN: usize = 32;
const TAG_LEN: usize = 16;
const BODY_LEN: usize = HEADER_LEN + SALT_LEN + NONCE_LEN + SEED_LEN + TAG_LEN;

/// Encrypts `secret` under `password` into one storable line of text.
///
/// # Envelope format, version 1
///
/// ```text
/// purse-backup-v1.<base64url without padding of BODY>
///
/// BODY (103 bytes) = HEADER (15) | SALT (16) | NONCE (24) | CIPHERTEXT (48)
/// HEADER = version   u8     = 1
///          kdf       u8     = 1  (argon2id, version 0x13)
///          aead      u8     = 1  (XChaCha20-Poly1305)
///          m_cost    u32 BE    argon2 memory in KiB   (written 19456; read 7168..=262144)
///          t_cost    u32 BE    argon2 passes          (written 2;     read 1..=10)
///          p_cost    u32 BE    argon2 lanes           (written 1;     read 1..=4)
///          and read only if m_cost * t_cost >= 35840 (OWASP's weakest configuration)
/// SALT   = 16 random bytes (argon2 salt)
/// NONCE  = 24 random bytes (XChaCha20 nonce)
/// key    = argon2id(password = UTF-8 of NFC(password), salt, m_cost, t_cost, p_cost, 32 bytes)
/// CIPHERTEXT = XChaCha20-Poly1305(key, NONCE, plaintext = the 32-byte Ed25519 seed,
///                                 associated data = HEADER) — 32 bytes + 16-byte tag
/// ```
///
/// The whole envelope is 154 characters. The header is authenticated, so changing the recorded
/// parameters is detected like a wrong password. Passwords are NFC-normalized so the same
/// password typed on different keyboards and systems derives the same key; they need at least
/// [`PASSWORD_CHARS_MIN`] characters.
pub fn backup(secret: &SecretKey, password: &str) -> Result<String, KeyError> {
    let password = normalized_password(password)?;
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(KeyError::PasswordTooShort);
    }
    let params = KDF_DEFAULT;
    let header = encode_header(params);
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = derive_key(&password, &salt, params)?;

    // Capacity for the tag up front: a reallocation would leave a plaintext copy in freed memory.
    let seed = Zeroizing::new(secret.0.to_bytes());
    let mut sealed = Zeroizing::new(Vec::with_capacity(SEED_LEN + TAG_LEN));
    sealed.extend_from_slice(&seed[..]);
    XChaCha20Poly1305::new(Key::from_slice(&key[..]))
        .encrypt_in_place(XNonce::from_slice(&nonce), &header, &mut *sealed)
        .map_err(|_| corrupted("encryption failed"))?;

    let mut body = Vec::with_capacity(BODY_LEN);
    body.extend_from_slice(&header);
    body.extend_from_slice(&salt);
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    debug_assert_eq!(body.len(), BODY_LEN);
    let mut envelope = String::with_capacity(BACKUP_PREFIX.len() + BODY_LEN * 4 / 3 + 1);
    envelope.push_str(BACKUP_PREFIX);
    BASE64URL_NOPAD.encode_append(&body, &mut envelope);
    Ok(envelope)
}

/// Decrypts an envelope written by [`backup`] (surrounding whitespace is ignored).
///
/// Errors, in the order they are checked: `backup_corrupted` for anything that is not a
/// well-formed envelope (prefix, base64url, length, algorithm ids, parameters out of bounds),
/// `backup_unsupported_version` for a `purse-backup-vN.` prefix this build does not know,
/// `password_too_long`, then `backup_wrong_password` when the AEAD rejects a well-formed
/// envelope. The last one cannot tell a wrong password from a tampered ciphertext: only the
/// password holder could, so it names the likely cause.
pub fn restore(envelope: &str, password: &str) -> Result<SecretKey, KeyError> {
    if envelope.len() > ENVELOPE_CHARS_MAX {
        return Err(corrupted("too long"));
    }
    let envelope = envelope.trim_ascii();
    let rest = envelope.strip_prefix("purse-backup-v").ok_or(corrupted(
        "not a Purse backup (expected \"purse-backup-v1.\")",
    ))?;
    let (version, encoded) = rest
        .split_once('.')
        .ok_or(corrupted("missing '.' after the version"))?;
    if version.is_empty() || version.len() > 3 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupted("malformed version"));
    }
    if version != "1" {
        return Err(KeyError::BackupUnsupportedVersion);
    }
    let body = BASE64URL_NOPAD
        .decode(encoded.as_bytes())
        .map_err(|_| corrupted("not base64url"))?;
    if body.len() != BODY_LEN {
        return Err(corrupted("wrong length (truncated?)"));
    }
    let (header, rest) = body.split_at(HEADER_LEN);
    let (salt, rest) = rest.split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let params = decode_header(header)?;

    let password = normalized_password(password)?;
    let key = derive_key(&password, salt, params)?;
    let mut opened = Zeroizing::new(ciphertext.to_vec());
    XChaCha20Poly1305::new(Key::from_slice(&key[..]))
        .decrypt_in_place(XNonce::from_slice(nonce), header, &mut *opened)
        .map_err(|_| KeyError::BackupWrongPassword)?;
    let seed: &[u8; SEED_LEN] = opened[..]
        .try_into()
        .map_err(|_| corrupted("wrong plaintext length"))?;
    Ok(SecretKey::from_bytes(seed))
}

fn normalized_password(password: &str) -> Result<Zeroizing<String>, KeyError> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(KeyError::PasswordTooLong);
    }
    // NFC never grows text by more than 3x; reserve that so the string does not reallocate.
    let mut normalized = Zeroizing::new(String::with_capacity(password.len() * 3));
    normalized.extend(password.nfc());
    Ok(normalized)
}

fn encode_header(params: KdfParams) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[0] = FORMAT_VERSION;
    header[1] = KDF_ARGON2ID_V13;
    header[2] = AEAD_XCHACHA20_POLY1305;
    header[3..7].copy_from_slice(&params.m_cost_kib.to_be_bytes());
    header[7..11].copy_from_slice(&params.t_cost.to_be_bytes());
    header[11..15].copy_from_slice(&params.p_cost.to_be_bytes());
    header
}

fn decode_header(header: &[u8]) -> Result<KdfParams, KeyError> {
    if header[0] != FORMAT_VERSION {
        return Err(corrupted("header version does not match the prefix"));
    }
    if header[1] != KDF_ARGON2ID_V13 || header[2] != AEAD_XCHACHA20_POLY1305 {
        return Err(corrupted("unknown algorithm"));
    }
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let params = KdfParams {
        m_cost_kib: word(3),
        t_cost: word(7),
        p_cost: word(11),
    };
    if !(M_COST_KIB_MIN..=M_COST_KIB_MAX).contains(&params.m_cost_kib)
        || !(T_COST_MIN..=T_COST_MAX).contains(&params.t_cost)
        || !(P_COST_MIN..=P_COST_MAX).contains(&params.p_cost)
        || u64::from(params.m_cost_kib) * u64::from(params.t_cost) < WORK_KIB_MIN
    {
        return Err(corrupted("key derivation parameters out of bounds"));
    }
    Ok(params)
}

fn derive_key(
    password: &str,
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let argon_params =
        argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
            .map_err(|_| corrupted("key derivation parameters rejected"))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password.as_bytes(), salt, &mut key[..])
        .map_err(|_| corrupted("key derivation failed"))?;
    Ok(key)
}
