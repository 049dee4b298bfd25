//! `Email`: an address the platform can send to, lower-cased and length-checked.

use std::fmt;

use crate::{Hostname, ValidationError};

#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |msg: &str| ValidationError::new("email", "invalid_email", msg);
        let raw = raw.trim();
        if raw.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let (local, domain) = raw
            .rsplit_once('@')
            .ok_or_else(|| invalid("must contain '@'"))?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
        if !local_ok {
            return Err(invalid("the part before '@' is not valid"));
        }
        let domain = Hostname::parse(domain).map_err(|_| invalid("the domain is not valid"))?;
        if !domain.as_str().contains('.') {
            return Err(invalid("the domain needs a dot"));
        }
        Ok(Self(format!(
            "{}@{}",
            local.to_ascii_lowercase(),
            domain.as_str()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(
            Email::parse(" Ana.Lopez@Example.COM ").unwrap().as_str(),
            "ana.lopez@example.com"
        );
        assert_eq!(
            Email::parse("x@peluquería.es").unwrap().as_str(),
            "x@xn--peluquera-n5a.es"
        );
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@localhost",
            "a..b@x.com",
            "a b@x.com",
            "a@x.com:25",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
