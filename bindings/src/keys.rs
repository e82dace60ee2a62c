//! Keys across the FFI: `KeyPair`, an in-memory Ed25519 key with its encrypted backup, and
//! `Signer`, the trait a platform keystore (Android Keystore, Secure Enclave) implements in Kotlin
//! or Swift so the secret never enters this library. `SignerAdapter` lets the core sign through
//! either. It never returns a secret except through `KeyPair::to_text` and encrypted backups.

use std::sync::Arc;

use purse_core::keys::{self, KeyError, KeyId, PublicKey, SecretKey, Signature};

use crate::error::{Failure, PurseError, guard};

/// An Ed25519 key pair held in this process (zeroized when dropped). Apps that keep the key in
/// a platform keystore implement [`Signer`] instead.
#[derive(uniffi::Object)]
pub struct KeyPair {
    secret: SecretKey,
}

#[uniffi::export]
impl KeyPair {
    /// A fresh key from the operating system's random number generator.
    #[uniffi::constructor]
    pub fn generate() -> Result<Arc<KeyPair>, PurseError> {
        guard(|| Ok(Arc::new(KeyPair::from(SecretKey::generate()))))
    }

    /// Reads the key text written by [`KeyPair::to_text`] (`purse-ed25519-secret-v1:…`), the
    /// same text as a `purse keys new` key file.
    #[uniffi::constructor]
    pub fn from_text(text: String) -> Result<Arc<KeyPair>, PurseError> {
        guard(|| Ok(Arc::new(KeyPair::from(SecretKey::from_text(&text)?))))
    }

    /// Decrypts a backup made by [`KeyPair::backup`]. A wrong password is
    /// `Rejected(backup_wrong_password)`; a damaged backup is `Invalid(backup_corrupted)`.
    #[uniffi::constructor]
    pub fn restore(backup: String, password: String) -> Result<Arc<KeyPair>, PurseError> {
        guard(|| Ok(Arc::new(KeyPair::from(keys::restore(&backup, &password)?))))
    }

    /// The key id: 16 lower-case hex characters naming the public key.
    pub fn key_id(&self) -> String {
        self.secret.key_id().to_string()
    }

    /// The public key as text (base64url, 43 characters): what the server and merchants store.
    pub fn public_key(&self) -> String {
        self.secret.public_key().to_string()
    }

    /// The SECRET key as one line of text, for an app that stores it itself (encrypted at rest).
    /// Prefer a platform keystore and [`Signer`]; never log or upload this text.
    pub fn to_text(&self) -> String {
        self.secret.to_text().to_string()
    }

    /// Encrypts the key under `password` (argon2id + XChaCha20-Poly1305) into one line of text
    /// that is safe to store in a cloud backup. Passwords need at least 12 characters.
    pub fn backup(&self, password: String) -> Result<String, PurseError> {
        guard(|| Ok(keys::backup(&self.secret, &password)?))
    }

    /// This key as a [`Signer`], for the calls that take one (pay codes, merchant codes).
    pub fn signer(self: Arc<Self>) -> Arc<dyn Signer> {
        self
    }
}

impl From<SecretKey> for KeyPair {
    fn from(secret: SecretKey) -> KeyPair {
        KeyPair { secret }
    }
}

/// Something that signs with an Ed25519 key. Implement it over a platform keystore so the secret
/// never leaves it; [`KeyPair::signer`] is the in-memory implementation. Throw a `PurseError`
/// (e.g. `Signer(code = "keystore_locked", ...)`) when the keystore cannot sign; the SDK reports
/// it as `Signer(signer_failed)` with your code and reason in its reason.
#[uniffi::export(rust, foreign)]
pub trait Signer: Send + Sync {
    /// The public key as base64url text without padding (43 characters) of its 32 bytes.
    fn public_key(&self) -> Result<String, PurseError>;

    /// A 64-byte Ed25519 signature over exactly `message`. The SDK checks it before using it.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PurseError>;
}

impl Signer for KeyPair {
    fn public_key(&self) -> Result<String, PurseError> {
        Ok(KeyPair::public_key(self))
    }

    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, PurseError> {
        use purse_core::keys::Signer as _;
        let signature = self
            .secret
            .sign(&message)
            .map_err(|err| PurseError::from(Failure::Key(err)))?;
        Ok(signature.to_bytes().to_vec())
    }
}

/// An FFI [`Signer`] as the core's `keys::Signer`, or an in-memory [`KeyPair`] used directly.
/// The public key is read once, when the adapter is made, because the core asks for it
/// infallibly and often.
pub(crate) enum SignerAdapter {
    /// Any signer, possibly a platform keystore: the core checks each signature it returns.
    Foreign {
        inner: Arc<dyn Signer>,
        public_key: PublicKey,
    },
    /// This library's own key: its signatures verify by construction, so they are not checked.
    Local(Arc<KeyPair>),
}

impl SignerAdapter {
    pub(crate) fn new(inner: Arc<dyn Signer>) -> Result<SignerAdapter, Failure> {
        let text = inner.public_key().map_err(signer_failed)?;
        let public_key = text.parse::<PublicKey>()?;
        Ok(SignerAdapter::Foreign { inner, public_key })
    }

    pub(crate) fn key_id(&self) -> KeyId {
        keys::Signer::public_key(self).key_id()
    }
}

impl keys::Signer for SignerAdapter {
    fn public_key(&self) -> PublicKey {
        match self {
            SignerAdapter::Foreign { public_key, .. } => *public_key,
            SignerAdapter::Local(key) => key.secret.public_key(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        let inner = match self {
            SignerAdapter::Foreign { inner, .. } => inner,
            SignerAdapter::Local(key) => return keys::Signer::sign(&key.secret, message),
        };
        let bytes = inner
            .sign(message.to_vec())
            .map_err(|err| KeyError::SignerFailed {
                reason: err.to_string(),
            })?;
        // The core verifies the signature against the public key before using it.
        Signature::from_bytes(&bytes).map_err(|_| KeyError::SignerFailed {
            reason: format!(
                "the signer returned {} bytes; an Ed25519 signature has 64",
                bytes.len()
            ),
        })
    }

    fn signatures_verified(&self) -> bool {
        matches!(self, SignerAdapter::Local(_))
    }
}

fn signer_failed(err: PurseError) -> Failure {
    Failure::Key(KeyError::SignerFailed {
        reason: err.to_string(),
    })
}
