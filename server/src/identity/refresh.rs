//! Opaque refresh tokens: 256 random bits shown to the client once, stored only as a SHA-256 hash.
//! A fast hash is right here (unlike passwords): the token is random, so there is nothing to guess.
//! It never stores or logs the token text.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::IdentityError;
use super::keys;

/// Refresh tokens live 30 days from issue; every use rotates the token, so an active session
/// slides forward while a stolen, unused token ages out.
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 60 * 60 * 1000;
const PREFIX: &str = "rt_";
/// `rt_` + base64url of 32 bytes.
pub const REFRESH_TOKEN_CHARS: usize = 3 + 43;

/// A newly minted token: the text for the client and the hash for the database.
pub struct NewRefreshToken {
    pub text: Zeroizing<String>,
    pub hash: [u8; 32],
}

/// Mints a fresh refresh token.
pub fn mint() -> NewRefreshToken {
    let text = Zeroizing::new(format!("{PREFIX}{}", keys::random_token(32)));
    let hash = digest(&text);
    NewRefreshToken { text, hash }
}

/// The stored hash of a token presented by a client, after checking its shape (so garbage never
/// reaches the database).
pub fn hash_presented(text: &str) -> Result<[u8; 32], IdentityError> {
    let well_formed = text.len() == REFRESH_TOKEN_CHARS
        && text.starts_with(PREFIX)
        && data_encoding::BASE64URL_NOPAD
            .decode(&text.as_bytes()[PREFIX.len()..])
            .is_ok_and(|b| b.len() == 32);
    if !well_formed {
        return Err(IdentityError::RefreshInvalid);
    }
    Ok(digest(text))
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_hashes_to_its_stored_hash() {
        let token = mint();
        assert_eq!(token.text.len(), REFRESH_TOKEN_CHARS);
        assert_eq!(hash_presented(&token.text).unwrap(), token.hash);
        assert_ne!(mint().hash, token.hash);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = mint();
        let mut flipped = good.text.to_string();
        flipped.replace_range(3..4, if &flipped[3..4] == "A" { "B" } else { "A" });
        assert_ne!(hash_presented(&flipped).unwrap(), good.hash);
        for bad in [
            "",
            "rt_",
            &good.text[..45],
            &format!("{}A", &*good.text),
            &good.text.replacen("rt_", "xx_", 1),
            &format!("rt_{}", "*".repeat(43)),
        ] {
            assert!(
                matches!(hash_presented(bad), Err(IdentityError::RefreshInvalid)),
                "{bad:?}"
            );
        }
    }
}
