//! Access tokens: JWTs signed with the server's Ed25519 key (`EdDSA`) and verified pinned to that
//! algorithm, issuer and audience. It never accepts `alg: none`, an HMAC algorithm, or a token
//! signed by any other key, and it never logs or returns the secret key.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::error::IdentityError;
use super::keys::{self, ServerKey};

/// Access tokens live 15 minutes: long enough for a session of taps, short enough that a stolen
/// token soon stops working (and alone it can never move money: that needs a device signature).
pub const ACCESS_TTL_S: u64 = 15 * 60;
/// Anything longer is not one of our tokens; refuse it before parsing.
pub const TOKEN_BYTES_MAX: usize = 2048;
pub const DEFAULT_ISSUER: &str = "purse";
pub const DEFAULT_AUDIENCE: &str = "purse-api";

/// The claims of a Purse access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// `usr_…`
    pub sub: String,
    /// Unix seconds.
    pub exp: u64,
    /// Unix seconds.
    pub iat: u64,
    /// Unique token id.
    pub jti: String,
    /// The refresh-token family (login session) this token was issued under, so logout with only
    /// an access token knows what to revoke.
    pub sid: String,
}

/// A freshly issued access token.
pub struct IssuedToken {
    pub token: String,
    pub expires_in_s: u64,
}

/// Signs and verifies access tokens. Holds the secret key; `Debug` shows only the key id.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    kid: String,
    public_key: [u8; 32],
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn new(
        key: &ServerKey,
        issuer: &str,
        audience: &str,
    ) -> Result<TokenSigner, IdentityError> {
        let der: Zeroizing<Vec<u8>> = key.pkcs8_der()?;
        let public_key = key.public_key_bytes();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(TokenSigner {
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_der(&public_key),
            validation,
            kid: keys::key_id_hex(&public_key),
            public_key,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// The JWT header `kid` of every token this signer issues.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.public_key
    }

    /// Issues a token for `user_id` in session `sid`, valid from `now_s` for [`ACCESS_TTL_S`].
    pub fn issue(
        &self,
        user_id: &str,
        sid: &str,
        now_s: u64,
    ) -> Result<IssuedToken, IdentityError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            exp: now_s + ACCESS_TTL_S,
            iat: now_s,
            jti: keys::random_token(16),
            sid: sid.to_owned(),
        };
        self.sign(&claims).map(|token| IssuedToken {
            token,
            expires_in_s: ACCESS_TTL_S,
        })
    }

    /// Signs arbitrary claims with the server key. Used by [`TokenSigner::issue`] and by tests that
    /// need an expired or foreign-audience token signed with the real key.
    pub fn sign(&self, claims: &Claims) -> Result<String, IdentityError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|_| IdentityError::Internal("signing an access token failed"))
    }

    /// Verifies a bearer token against the wall clock. The header's `alg` is checked by hand
    /// first, so `none`, `HS256` and friends get their own error instead of a parse failure.
    pub fn verify(&self, token: &str) -> Result<Claims, IdentityError> {
        if token.is_empty() || token.len() > TOKEN_BYTES_MAX {
            return Err(IdentityError::TokenMalformed);
        }
        check_header(token, &self.kid)?;
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(err) => Err(match err.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidEddsaKey => {
                    IdentityError::TokenSignature
                }
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
                    IdentityError::TokenExpired
                }
                ErrorKind::InvalidIssuer => IdentityError::TokenIssuer,
                ErrorKind::InvalidAudience => IdentityError::TokenAudience,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm
                | ErrorKind::UnsupportedAlgorithm
                | ErrorKind::InvalidKeyFormat => IdentityError::TokenAlgorithm,
                _ => IdentityError::TokenMalformed,
            }),
        }
    }

    /// A claims template carrying this signer's issuer and audience (for tests and tools).
    pub fn claims_for(&self, user_id: &str, sid: &str, iat: u64, exp: u64) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            exp,
            iat,
            jti: keys::random_token(16),
            sid: sid.to_owned(),
        }
    }
}

/// Tokens verified earlier, by their exact text: a client sends the same access token with every
/// request for 15 minutes, and re-verifying it (~50 µs of Ed25519 and parsing) each time is the
/// single largest identity cost on the money path. The same bytes verify the same way, so a hit is
/// as good as a verification; expiry is still checked on every use. Bounded: when full it starts
/// over, so memory stays at `VERIFIED_TOKENS_MAX` entries.
pub struct VerifiedTokens {
    map: std::sync::Mutex<std::collections::HashMap<String, Claims>>,
}

/// At most this many verified tokens are remembered (each ~1 KiB with its claims).
pub const VERIFIED_TOKENS_MAX: usize = 8192;

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens {
            map: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl VerifiedTokens {
    /// Verifies `token` with `signer` unless it verified before; either way refuses it once
    /// expired (`exp < now_s`, the rule `jsonwebtoken` applies with zero leeway).
    pub fn verify(
        &self,
        signer: &TokenSigner,
        token: &str,
        now_s: u64,
    ) -> Result<Claims, IdentityError> {
        let hit = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        if let Some(claims) = hit {
            if claims.exp < now_s {
                return Err(IdentityError::TokenExpired);
            }
            return Ok(claims);
        }
        let claims = signer.verify(token)?;
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= VERIFIED_TOKENS_MAX {
            map.clear();
        }
        map.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// Reads the protected header without trusting it: exactly `EdDSA`, and our key id when present.
fn check_header(token: &str, kid: &str) -> Result<(), IdentityError> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::TokenMalformed);
    };
    let json = data_encoding::BASE64URL_NOPAD
        .decode(head.as_bytes())
        .map_err(|_| IdentityError::TokenMalformed)?;
    let header: RawHeader =
        serde_json::from_slice(&json).map_err(|_| IdentityError::TokenMalformed)?;
    if header.alg.as_deref() != Some("EdDSA") {
        return Err(IdentityError::TokenAlgorithm);
    }
    match header.kid {
        // A token for another key cannot verify under ours; say so without trying.
        Some(got) if got != kid => Err(IdentityError::TokenSignature),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::BASE64URL_NOPAD as B64;

    fn signer() -> TokenSigner {
        TokenSigner::new(
            &ServerKey::from_seed([7; 32]),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap()
    }

    fn now_s() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn forge(header: &str, claims: &Claims, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header.as_bytes()),
            B64.encode(&serde_json::to_vec(claims).unwrap()),
            B64.encode(signature)
        )
    }

    #[test]
    fn issued_token_verifies_with_all_claims() {
        let signer = signer();
        let issued = signer.issue("usr_1", "ses_1", now_s()).unwrap();
        assert_eq!(issued.expires_in_s, 900);
        let claims = signer.verify(&issued.token).unwrap();
        assert_eq!(claims.sub, "usr_1");
        assert_eq!(claims.sid, "ses_1");
        assert_eq!(claims.iss, "purse");
        assert_eq!(claims.aud, "purse-api");
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(claims.jti.len() >= 16);
        let head = issued.token.split('.').next().unwrap();
        let head: serde_json::Value =
            serde_json::from_slice(&B64.decode(head.as_bytes()).unwrap()).unwrap();
        assert_eq!(head["alg"], "EdDSA");
        assert_eq!(head["kid"], signer.kid());
    }

    #[test]
    fn alg_none_is_rejected() {
        let signer = signer();
        let claims = signer.claims_for("usr_1", "ses_1", now_s(), now_s() + 600);
        let token = forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, b"");
        assert!(matches!(
            signer.verify(&token),
            Err(IdentityError::TokenAlgorithm)
        ));
        let token = format!("{}.", token.trim_end_matches('.'));
        assert!(matches!(
            signer.verify(&token),
            Err(IdentityError::TokenAlgorithm)
        ));
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_rejected() {
        use hmac::{Hmac, Mac};
        let signer = signer();
        let claims = signer.claims_for("usr_1", "ses_1", now_s(), now_s() + 600);
        let head = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = B64.encode(&serde_json::to_vec(&claims).unwrap());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&signer.public_key_bytes()).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        let token = format!("{head}.{body}.{}", B64.encode(&mac.finalize().into_bytes()));
        assert!(matches!(
            signer.verify(&token),
            Err(IdentityError::TokenAlgorithm)
        ));
    }

    #[test]
    fn expired_wrong_issuer_wrong_audience_are_rejected() {
        let signer = signer();
        let now = now_s();
        let expired = signer
            .sign(&signer.claims_for("usr_1", "s", now - 1000, now - 1))
            .unwrap();
        assert!(matches!(
            signer.verify(&expired),
            Err(IdentityError::TokenExpired)
        ));

        let mut claims = signer.claims_for("usr_1", "s", now, now + 600);
        claims.iss = "evil".into();
        let token = signer.sign(&claims).unwrap();
        assert!(matches!(
            signer.verify(&token),
            Err(IdentityError::TokenIssuer)
        ));

        let mut claims = signer.claims_for("usr_1", "s", now, now + 600);
        claims.aud = "other-api".into();
        let token = signer.sign(&claims).unwrap();
        assert!(matches!(
            signer.verify(&token),
            Err(IdentityError::TokenAudience)
        ));
    }

    #[test]
    fn tampered_payload_or_signature_is_rejected() {
        let signer = signer();
        let token = signer.issue("usr_1", "ses_1", now_s()).unwrap().token;
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Claims =
            serde_json::from_slice(&B64.decode(parts[1].as_bytes()).unwrap()).unwrap();
        claims.sub = "usr_2".into();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(&serde_json::to_vec(&claims).unwrap()),
            parts[2]
        );
        assert!(matches!(
            signer.verify(&tampered),
            Err(IdentityError::TokenSignature)
        ));

        let mut sig = B64.decode(parts[2].as_bytes()).unwrap();
        sig[0] ^= 1;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
        assert!(matches!(
            signer.verify(&tampered),
            Err(IdentityError::TokenSignature)
        ));
    }

    #[test]
    fn token_of_another_server_key_is_rejected() {
        let other = TokenSigner::new(
            &ServerKey::from_seed([8; 32]),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .unwrap();
        let token = other.issue("usr_1", "ses_1", now_s()).unwrap().token;
        assert!(matches!(
            signer().verify(&token),
            Err(IdentityError::TokenSignature)
        ));
        // Even with our kid forged into the header, the signature does not verify.
        let claims = other.claims_for("usr_1", "s", now_s(), now_s() + 600);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer().kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &other.encoding).unwrap();
        assert!(matches!(
            signer().verify(&token),
            Err(IdentityError::TokenSignature)
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let signer = signer();
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c",
            "a.b.c.d",
            "...",
            "eyJhbGciOiJFZERTQSJ9.e30.",
            &"x".repeat(5000),
        ] {
            let err = signer.verify(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    IdentityError::TokenMalformed | IdentityError::TokenSignature
                ),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn verified_tokens_remember_good_tokens_only_and_still_expire_them() {
        let signer = signer();
        let cache = VerifiedTokens::default();
        let now = now_s();
        let token = signer
            .sign(&signer.claims_for("usr_1", "s", now, now + 10))
            .unwrap();
        assert_eq!(cache.verify(&signer, &token, now).unwrap().sub, "usr_1");
        // A hit, still checked for expiry against the clock it is given.
        assert_eq!(
            cache.verify(&signer, &token, now + 10).unwrap().sub,
            "usr_1"
        );
        assert!(matches!(
            cache.verify(&signer, &token, now + 11),
            Err(IdentityError::TokenExpired)
        ));
        // A bad token is never remembered: it fails every time.
        let mut bad = token.clone();
        bad.pop();
        bad.push(if token.ends_with('A') { 'B' } else { 'A' });
        for _ in 0..2 {
            assert!(cache.verify(&signer, &bad, now).is_err());
        }
        // Bounded.
        for i in 0..(VERIFIED_TOKENS_MAX + 5) {
            let t = signer
                .sign(&signer.claims_for(&format!("usr_{i}"), "s", now, now + 60))
                .unwrap();
            cache.verify(&signer, &t, now).unwrap();
        }
        assert!(cache.map.lock().unwrap().len() <= VERIFIED_TOKENS_MAX);
    }

    #[test]
    fn debug_shows_no_secret() {
        let text = format!("{:?}", signer());
        assert!(text.contains("kid"));
        assert!(!text.contains("encoding"));
    }
}
