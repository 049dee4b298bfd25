//! Passwords: a strength rule on new ones, argon2id hashes (OWASP parameters) computed
//! off the async workers.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use tenancy::ValidationError;

use crate::error::{Error, Result};

const MIN_LEN: usize = 10;
/// Long enough for any passphrase; bounds the hashing work one request can cause.
const MAX_LEN: usize = 128;
/// From this length on, a passphrase needs no mix of character classes.
const PASSPHRASE_LEN: usize = 16;

/// Passwords on every breach list; refused whatever their length.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "passw0rd",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "letmein123",
    "welcome123",
    "admin12345",
    "abc1234567",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "dragon",
    "monkey",
    "trustno1",
    "changeme",
    "instudio",
    "contraseña",
    "123456789a",
    "aa12345678",
];

/// A new password that passed the strength rule. Never printed.
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

fn weak(code: &'static str, message: &str) -> ValidationError {
    ValidationError::new("password", code, message)
}

impl NewPassword {
    /// Checks the rule: 10–128 characters; under 16, at least three of lower case,
    /// upper case, digits and symbols; not a common password; not containing
    /// `personal` words (the email's name part, the salon's subdomain).
    pub fn parse(raw: &str, personal: &[&str]) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if len < MIN_LEN {
            return Err(weak("too_short", "must be at least 10 characters"));
        }
        if len > MAX_LEN {
            return Err(weak("too_long", "must be at most 128 characters"));
        }
        let lower = raw.to_lowercase();
        let distinct = {
            let mut chars: Vec<char> = lower.chars().collect();
            chars.sort_unstable();
            chars.dedup();
            chars.len()
        };
        if COMMON.iter().any(|c| {
            lower == *c || lower.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '!') == *c
        }) || distinct < 5
        {
            return Err(weak("too_common", "is too common or too repetitive"));
        }
        let classes = [
            raw.chars().any(char::is_lowercase),
            raw.chars().any(char::is_uppercase),
            raw.chars().any(|c| c.is_ascii_digit()),
            raw.chars().any(|c| !c.is_alphanumeric()),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        if len < PASSPHRASE_LEN && classes < 3 {
            return Err(weak(
                "too_simple",
                "needs three of: lower case, upper case, digits, symbols (or 16+ characters)",
            ));
        }
        for word in personal {
            let word = word.to_lowercase();
            if word.chars().count() >= 4 && lower.contains(&word) {
                return Err(weak(
                    "contains_personal_info",
                    "must not contain your email name or salon address",
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn hasher() -> Argon2<'static> {
    // Argon2id, v19, m = 19 MiB, t = 2, p = 1: OWASP's recommended floor.
    Argon2::default()
}

/// The argon2id PHC string for `password`.
pub async fn hash(password: &NewPassword) -> Result<String> {
    let password = password.0.clone();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(Error::internal)?;
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

/// Whether `password` matches `phc`. A malformed stored hash never matches.
pub async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, verified against when an address is unknown so that a
/// failed sign-in takes as long whether or not the account exists.
pub async fn decoy_hash() -> Result<String> {
    let random = NewPassword(format!("Decoy-{}", uuid::Uuid::new_v4()));
    hash(&random).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rule() {
        let code = |raw: &str| {
            NewPassword::parse(raw, &["ana", "bella-spa"])
                .err()
                .map(|e| e.code)
        };
        assert_eq!(code("Sh0rt!"), Some("too_short"));
        assert_eq!(code("password123"), Some("too_common"));
        assert_eq!(code("aaaaaaaaaaaaaaaaaaaa"), Some("too_common"));
        assert_eq!(code("lowercaseonly"), Some("too_simple"));
        assert_eq!(code("Bella-Spa-2026!"), Some("contains_personal_info"));
        assert_eq!(code(&"Ab1!".repeat(40)), Some("too_long"));
        assert_eq!(code("Tr1cky-Horse"), None);
        assert_eq!(
            code("correct horse battery staple"),
            None,
            "passphrases pass"
        );
    }

    #[tokio::test]
    async fn hashes_verify() {
        let p = NewPassword::parse("Tr1cky-Horse", &[]).unwrap();
        let h = hash(&p).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Tr1cky-Horse".into(), h.clone()).await);
        assert!(!verify("tr1cky-horse".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }
}
