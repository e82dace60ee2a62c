//! Password rules and argon2id hashing (OWASP parameters: m = 19456 KiB, t = 2, p = 1) as PHC
//! strings. It never stores, logs or returns a password; comparisons of hashes are constant-time
//! (the `password-hash` crate compares outputs with `subtle`).

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::error::IdentityError;

/// NIST SP 800-63B asks for at least 8; 10 keeps the weakest guessable passwords out.
pub const PASSWORD_CHARS_MIN: usize = 10;
/// Long enough for any passphrase, short enough that hashing cost stays bounded.
pub const PASSWORD_CHARS_MAX: usize = 128;

/// OWASP Password Storage Cheat Sheet, argon2id option 2: 19 MiB, 2 iterations, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// A password that passed the rules. Its text is wiped from memory on drop.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Applies the length rules (counted in characters, so non-ASCII passphrases are fair).
    pub fn new(text: &str) -> Result<Password, IdentityError> {
        // Bound the work before counting characters of an absurd input.
        if text.len() > PASSWORD_CHARS_MAX * 4 {
            return Err(IdentityError::PasswordTooLong {
                max: PASSWORD_CHARS_MAX,
            });
        }
        let chars = text.chars().count();
        if chars < PASSWORD_CHARS_MIN {
            return Err(IdentityError::PasswordTooShort {
                min: PASSWORD_CHARS_MIN,
            });
        }
        if chars > PASSWORD_CHARS_MAX {
            return Err(IdentityError::PasswordTooLong {
                max: PASSWORD_CHARS_MAX,
            });
        }
        Ok(Password(Zeroizing::new(text.to_owned())))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("OWASP argon2 parameters are within argon2's bounds");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt; the PHC string holds algorithm, parameters and salt.
pub fn hash(password: &Password) -> Result<String, IdentityError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.bytes(), &salt)
        .map(|phc| phc.to_string())
        .map_err(|_| IdentityError::Internal("argon2 hashing failed"))
}

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password (or an unreadable stored hash, which must never let anyone in).
    Mismatch,
    /// Right password, stored with today's parameters.
    Match,
    /// Right password, but stored with other parameters: store a fresh hash.
    MatchNeedsRehash,
}

/// Checks a login attempt against a stored PHC string. The attempt is not length-checked here
/// beyond a bound: a password set under older rules must still log in.
pub fn verify(attempt: &str, phc: &str) -> Verdict {
    if attempt.len() > PASSWORD_CHARS_MAX * 4 {
        return Verdict::Mismatch;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verdict::Mismatch;
    };
    if argon2()
        .verify_password(attempt.as_bytes(), &parsed)
        .is_err()
    {
        return Verdict::Mismatch;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == ARGON2_MEMORY_KIB
                && p.t_cost() == ARGON2_ITERATIONS
                && p.p_cost() == ARGON2_LANES
        });
    if current {
        Verdict::Match
    } else {
        Verdict::MatchNeedsRehash
    }
}

/// Spends the same time as [`verify`] when no account matches, so response time does not tell an
/// attacker which emails and phones have accounts.
pub fn verify_dummy(attempt: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| {
        let password = Password::new("purse-dummy-password-never-matches")
            .expect("the dummy password satisfies the rules");
        hash(&password).unwrap_or_default()
    });
    let _ = verify(attempt, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(matches!(
            Password::new("short"),
            Err(IdentityError::PasswordTooShort { min: 10 })
        ));
        assert!(Password::new("ten chars!").is_ok());
        // Ten non-ASCII characters are ten characters, not thirty bytes too many.
        assert!(Password::new("ééééééééé€").is_ok());
        assert!(Password::new(&"x".repeat(128)).is_ok());
        assert!(matches!(
            Password::new(&"x".repeat(129)),
            Err(IdentityError::PasswordTooLong { max: 128 })
        ));
        assert!(matches!(
            Password::new(&"x".repeat(100_000)),
            Err(IdentityError::PasswordTooLong { .. })
        ));
    }

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters_and_verifies() {
        let password = Password::new("correct horse battery").unwrap();
        let phc = hash(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(verify("correct horse battery", &phc), Verdict::Match);
        assert_eq!(verify("correct horse batterY", &phc), Verdict::Mismatch);
        // Same password, fresh salt: a different hash.
        assert_ne!(phc, hash(&password).unwrap());
    }

    #[test]
    fn weaker_stored_parameters_ask_for_a_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = weak
            .hash_password(b"old password 1", &salt)
            .unwrap()
            .to_string();
        assert_eq!(verify("old password 1", &phc), Verdict::MatchNeedsRehash);
        assert_eq!(verify("old password 2", &phc), Verdict::Mismatch);
    }

    #[test]
    fn garbage_stored_hash_never_matches() {
        assert_eq!(verify("anything at all", ""), Verdict::Mismatch);
        assert_eq!(
            verify("anything at all", "$argon2id$garbage"),
            Verdict::Mismatch
        );
        assert_eq!(verify("", "plaintext"), Verdict::Mismatch);
        verify_dummy("anything at all");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let password = Password::new("a secret passphrase").unwrap();
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
    }
}
