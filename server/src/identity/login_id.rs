//! Login identifiers: an email address or an E.164 phone number, normalised so that one person
//! cannot hold two accounts by changing letter case or spacing. It never looks anything up.

use super::error::IdentityError;

/// RFC 5321 limits: a path of at most 254 octets, a local part of at most 64.
pub const EMAIL_BYTES_MAX: usize = 254;
pub const EMAIL_LOCAL_BYTES_MAX: usize = 64;
/// E.164: at most 15 digits including the country code; 7 is the shortest number in use.
pub const PHONE_DIGITS_MIN: usize = 7;
pub const PHONE_DIGITS_MAX: usize = 15;
/// Raw input longer than this is refused before any work (spaces and dashes included).
pub const PHONE_INPUT_BYTES_MAX: usize = 32;

/// A normalised login identifier. Construct it only through [`LoginId::email`],
/// [`LoginId::phone`] or [`LoginId::from_parts`], so every value in the system is normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LoginId {
    Email(String),
    Phone(String),
}

impl LoginId {
    /// Lower-cases and checks an email address: one `@`, a local part, and a domain of at least
    /// two dot-separated labels of letters, digits and hyphens. Surrounding white space is dropped.
    pub fn email(raw: &str) -> Result<LoginId, IdentityError> {
        let text = raw.trim();
        if text.is_empty() || text.len() > EMAIL_BYTES_MAX {
            return Err(IdentityError::EmailInvalid);
        }
        let text = text.to_lowercase();
        let (local, domain) = text.split_once('@').ok_or(IdentityError::EmailInvalid)?;
        if local.is_empty()
            || local.len() > EMAIL_LOCAL_BYTES_MAX
            || domain.contains('@')
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local.chars().all(email_local_char)
        {
            return Err(IdentityError::EmailInvalid);
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(IdentityError::EmailInvalid);
        }
        Ok(LoginId::Email(text))
    }

    /// Normalises a phone number to E.164 (`+` then digits). Spaces, dashes, dots and parentheses
    /// are dropped; a leading international `00` counts as `+`. Without a country code the number
    /// is ambiguous, so it is refused rather than guessed.
    pub fn phone(raw: &str) -> Result<LoginId, IdentityError> {
        let text = raw.trim();
        if text.len() > PHONE_INPUT_BYTES_MAX {
            return Err(IdentityError::PhoneInvalid);
        }
        let rest = if let Some(rest) = text.strip_prefix('+') {
            rest
        } else if let Some(rest) = text.strip_prefix("00") {
            rest
        } else {
            return Err(IdentityError::PhoneInvalid);
        };
        let mut digits = String::with_capacity(PHONE_DIGITS_MAX + 1);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(IdentityError::PhoneInvalid),
            }
        }
        let count = digits.len() - 1;
        if !(PHONE_DIGITS_MIN..=PHONE_DIGITS_MAX).contains(&count) || digits[1..].starts_with('0') {
            return Err(IdentityError::PhoneInvalid);
        }
        Ok(LoginId::Phone(digits))
    }

    /// The one identifier of a request that names an email or a phone (never both).
    pub fn from_parts(email: Option<&str>, phone: Option<&str>) -> Result<LoginId, IdentityError> {
        match (email, phone) {
            (Some(email), None) => LoginId::email(email),
            (None, Some(phone)) => LoginId::phone(phone),
            (None, None) => Err(IdentityError::LoginIdMissing),
            (Some(_), Some(_)) => Err(IdentityError::LoginIdAmbiguous),
        }
    }

    /// The normalised text, as stored.
    pub fn as_str(&self) -> &str {
        match self {
            LoginId::Email(text) | LoginId::Phone(text) => text,
        }
    }

    /// The key that login back-off is counted under: distinct for emails and phones.
    pub fn backoff_key(&self) -> String {
        match self {
            LoginId::Email(text) => format!("email:{text}"),
            LoginId::Phone(text) => format!("phone:{text}"),
        }
    }
}

/// Characters allowed in the local part: RFC 5322 atext plus dots, and any non-ASCII letter
/// (internationalised addresses). Quoted local parts are not accepted.
fn email_local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(
            LoginId::email("  Ana.Silva+shop@Example.COM ").unwrap(),
            LoginId::Email("ana.silva+shop@example.com".into())
        );
    }

    #[test]
    fn bad_emails_are_refused() {
        let local_65 = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(250));
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "ana@localhost",
            "ana@@example.com",
            "a@b@example.com",
            "ana silva@example.com",
            "ana@exa mple.com",
            "ana@-example.com",
            "ana@example..com",
            ".ana@example.com",
            "ana..s@example.com",
            "ana\n@example.com",
            "'; DROP TABLE users; --@example.com",
            &local_65,
            &long,
        ] {
            assert!(
                matches!(LoginId::email(bad), Err(IdentityError::EmailInvalid)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn phone_is_normalised_to_e164() {
        for (raw, want) in [
            ("+1 (415) 555-0100", "+14155550100"),
            ("+55 11 91234.5678", "+5511912345678"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+6834002", "+6834002"),
        ] {
            assert_eq!(
                LoginId::phone(raw).unwrap(),
                LoginId::Phone(want.into()),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_phones_are_refused() {
        for bad in [
            "",
            "4155550100",
            "+",
            "+0123456789",
            "+123456",
            "+1234567890123456",
            "+1 415 555 01OO",
            "+1-415-555-0100 ext 2",
            "+1\u{0661}4155550100",
            "+1                                 4155550100",
        ] {
            assert!(
                matches!(LoginId::phone(bad), Err(IdentityError::PhoneInvalid)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn exactly_one_identifier() {
        assert!(matches!(
            LoginId::from_parts(None, None),
            Err(IdentityError::LoginIdMissing)
        ));
        assert!(matches!(
            LoginId::from_parts(Some("a@b.co"), Some("+14155550100")),
            Err(IdentityError::LoginIdAmbiguous)
        ));
        assert_eq!(
            LoginId::from_parts(None, Some("+14155550100"))
                .unwrap()
                .backoff_key(),
            "phone:+14155550100"
        );
    }
}
