//! `Hostname`: a DNS name as the platform routes it — IDNA-normalized to ASCII, lower-case,
//! without port or trailing dot, and within DNS length limits.

use std::fmt;

use crate::ValidationError;

const MAX_LEN: usize = 253;
const MAX_LABEL: usize = 63;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Hostname(String);

fn invalid(code: &'static str, message: &str) -> ValidationError {
    ValidationError::new("hostname", code, message)
}

impl Hostname {
    /// Parses a hostname a person typed (a custom domain, say): no port, path or scheme,
    /// and no internationalized label that passes for another name (`аcme.com` with a
    /// Cyrillic `а`).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.contains(':') {
            return Err(invalid("has_port", "must not include a port or scheme"));
        }
        let host = Self::normalize(raw)?;
        if host.0.contains("xn--") {
            let latin_tld = host
                .0
                .rsplit('.')
                .next()
                .is_some_and(|tld| !tld.starts_with("xn--"));
            let (unicode, _) = idna::domain_to_unicode(&host.0);
            for label in unicode.split('.') {
                if let Some(why) = crate::confusable::lookalike(label, latin_tld) {
                    return Err(invalid("lookalike", &format!("a label {why}")));
                }
            }
        }
        Ok(host)
    }

    /// Parses the value of an HTTP `Host` header (or a trusted proxy's forwarded host):
    /// a `:port` suffix is dropped; IP literals are refused, as no tenant lives at one.
    pub fn from_host_header(raw: &str) -> Result<Self, ValidationError> {
        if raw.starts_with('[') {
            return Err(invalid("ip_literal", "an IP address is not a tenant host"));
        }
        let host = match raw.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                host
            }
            Some(_) => return Err(invalid("invalid_port", "the port is not a number")),
            None => raw,
        };
        Self::normalize(host)
    }

    fn normalize(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim_end_matches('.');
        if raw.is_empty() {
            return Err(invalid("empty", "must not be empty"));
        }
        // A cheap bound before IDNA work: a long input cannot shrink into a valid name
        // by more than punycode's expansion would allow.
        if raw.len() > MAX_LEN * 4 {
            return Err(invalid("too_long", "must be at most 253 characters"));
        }
        if raw.contains(['/', '?', '#', '@', ' ', '\\']) {
            return Err(invalid("invalid_characters", "must be a bare host name"));
        }
        // Plain ASCII names get the precise length errors (IDNA would only say "invalid").
        if raw.is_ascii() {
            if raw.len() > MAX_LEN {
                return Err(invalid("too_long", "must be at most 253 characters"));
            }
            if raw.split('.').any(|l| l.len() > MAX_LABEL) {
                return Err(invalid(
                    "invalid_label",
                    "each label must be 1 to 63 characters",
                ));
            }
        }
        let ascii = idna::domain_to_ascii_strict(raw)
            .map_err(|_| invalid("invalid_idna", "is not a valid internationalized name"))?;
        if ascii.len() > MAX_LEN {
            return Err(invalid("too_long", "must be at most 253 characters"));
        }
        for label in ascii.split('.') {
            if label.is_empty() || label.len() > MAX_LABEL {
                return Err(invalid(
                    "invalid_label",
                    "each label must be 1 to 63 characters",
                ));
            }
            let ok = label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok || label.starts_with('-') || label.ends_with('-') {
                return Err(invalid(
                    "invalid_characters",
                    "labels use a-z, 0-9 and inner '-'",
                ));
            }
        }
        let last = ascii.rsplit('.').next().unwrap_or_default();
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("ip_literal", "an IP address is not a tenant host"));
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this name is `base` itself or lies under it.
    pub fn is_within(&self, base: &Hostname) -> bool {
        self.0 == base.0
            || (self.0.len() > base.0.len()
                && self.0.ends_with(&base.0)
                && self.0.as_bytes()[self.0.len() - base.0.len() - 1] == b'.')
    }

    /// The subdomain of `base` a tenant with this label is served at.
    pub fn subdomain(label: &str, base: &Hostname) -> Result<Self, ValidationError> {
        Self::normalize(&format!("{label}.{}", base.0))
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hostname({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Hostname {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_port_and_trailing_dot() {
        for raw in [
            "Acme.InStudio.app",
            "acme.instudio.app.",
            "acme.instudio.app:8081",
            "ACME.instudio.APP.:443",
        ] {
            assert_eq!(
                Hostname::from_host_header(raw).unwrap().as_str(),
                "acme.instudio.app",
                "{raw}"
            );
        }
    }

    #[test]
    fn idna_names_become_punycode() {
        let h = Hostname::parse("peluquería.es").unwrap();
        assert_eq!(h.as_str(), "xn--peluquera-n5a.es");
    }

    #[test]
    fn refuses_bad_hosts() {
        let long_label = format!("{}.com", "a".repeat(64));
        let too_long = format!("{}com", "abcdefghi.".repeat(26));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("book.acme.com:8080", "has_port"),
            ("https://acme.com", "has_port"),
            ("acme.com/path", "invalid_characters"),
            ("a\"; drop schema public", "invalid_characters"),
            (&long_label, "invalid_label"),
            (&too_long, "too_long"),
            ("under_score.com", "invalid_idna"),
            ("-acme.com", "invalid_idna"),
            ("127.0.0.1", "ip_literal"),
            ("a..b", "invalid_idna"),
            ("аcme.com", "lookalike"),
            ("xn--80ak6aa92e.com", "lookalike"),
        ];
        for (raw, code) in cases {
            let e = Hostname::parse(raw).unwrap_err();
            assert_eq!(e.code, *code, "{raw}: {e}");
        }
        assert_eq!(
            Hostname::from_host_header("[::1]:80").unwrap_err().code,
            "ip_literal"
        );
        assert_eq!(
            Hostname::from_host_header("acme.com:x").unwrap_err().code,
            "invalid_port"
        );
    }

    #[test]
    fn within_base_domain() {
        let base = Hostname::parse("instudio.app").unwrap();
        assert!(
            Hostname::parse("acme.instudio.app")
                .unwrap()
                .is_within(&base)
        );
        assert!(Hostname::parse("instudio.app").unwrap().is_within(&base));
        assert!(
            !Hostname::parse("evilinstudio.app")
                .unwrap()
                .is_within(&base)
        );
        assert_eq!(
            Hostname::subdomain("acme", &base).unwrap().as_str(),
            "acme.instudio.app"
        );
    }
}
