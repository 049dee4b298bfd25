//! `TenantSlug`: the stable, URL-safe name of a salon, used for its subdomain and schema.

use std::fmt;

use crate::ValidationError;

const MIN_LEN: usize = 3;
const MAX_LEN: usize = 40;

/// Names a salon may not take: they collide with platform hosts or read as official.
const RESERVED: &[&str] = &[
    "admin",
    "api",
    "app",
    "apps",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "console",
    "dashboard",
    "dev",
    "docs",
    "ftp",
    "help",
    "imap",
    "internal",
    "instudio",
    "login",
    "mail",
    "mx",
    "ns1",
    "ns2",
    "operator",
    "platform",
    "pop",
    "root",
    "security",
    "signup",
    "smtp",
    "static",
    "status",
    "support",
    "system",
    "www",
];

/// A validated tenant slug: 3–40 characters of `[a-z0-9-]`, starting with a letter,
/// not ending with `-`, without `--`, and not a reserved word.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let err = |code, msg: &str| Err(ValidationError::new("slug", code, msg));
        if raw.len() < MIN_LEN {
            return err("too_short", "must be at least 3 characters");
        }
        if raw.len() > MAX_LEN {
            return err("too_long", "must be at most 40 characters");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return err("invalid_characters", "may contain only a-z, 0-9 and '-'");
        }
        if !raw.as_bytes()[0].is_ascii_lowercase() {
            return err("invalid_start", "must start with a letter");
        }
        if raw.ends_with('-') {
            return err("invalid_end", "must not end with '-'");
        }
        if raw.contains("--") {
            return err("double_hyphen", "must not contain '--'");
        }
        if RESERVED.contains(&raw) {
            return err("reserved", "is reserved by the platform");
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `raw` is one of the words the platform keeps for itself.
    pub fn is_reserved(raw: &str) -> bool {
        RESERVED.contains(&raw)
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantSlug({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for TenantSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_slugs() {
        for ok in ["acme", "bella-spa", "salon42", "a1b", &"a".repeat(40)] {
            assert_eq!(TenantSlug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_bad_slugs_with_a_code() {
        let cases = [
            ("ab", "too_short"),
            (&*"a".repeat(41), "too_long"),
            ("Acme", "invalid_characters"),
            ("acmé", "invalid_characters"),
            ("a\"; drop schema public", "invalid_characters"),
            ("a_b_c", "invalid_characters"),
            ("1acme", "invalid_start"),
            ("-acme", "invalid_start"),
            ("acme-", "invalid_end"),
            ("ac--me", "double_hyphen"),
            ("www", "reserved"),
            ("admin", "reserved"),
        ];
        for (raw, code) in cases {
            let e = TenantSlug::parse(raw).unwrap_err();
            assert_eq!((e.field, e.code), ("slug", code), "{raw}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<TenantSlug>("\"acme\"").is_ok());
        assert!(serde_json::from_str::<TenantSlug>("\"api\"").is_err());
    }
}
