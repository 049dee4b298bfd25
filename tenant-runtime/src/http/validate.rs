//! Field validation shared by request DTOs: each check returns the field's error, and
//! DTO conversions collect all of them at once.

use std::str::FromStr;

use tenancy::Email;

use crate::error::{ApiError, FieldError};

/// Collects field errors while a DTO is converted.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn fail(&mut self, field: &str, code: &str, message: &str) {
        self.0.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        });
    }

    /// Runs `check` on `value`, recording its error; `None` when it failed.
    pub fn check<T, U>(
        &mut self,
        field: &str,
        value: T,
        check: impl FnOnce(T) -> Result<U, (&'static str, &'static str)>,
    ) -> Option<U> {
        match check(value) {
            Ok(v) => Some(v),
            Err((code, message)) => {
                self.fail(field, code, message);
                None
            }
        }
    }

    /// Like [`Checks::check`] for a field that may be cleared: `Some(None)` passes as is.
    pub fn nullable(
        &mut self,
        field: &str,
        value: Option<Option<String>>,
        check: impl FnOnce(String) -> Result<String, (&'static str, &'static str)>,
    ) -> Option<Option<String>> {
        match value {
            Some(Some(v)) => self.check(field, v, check).map(Some),
            other => other,
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

type Check<T> = Result<T, (&'static str, &'static str)>;

pub fn text(raw: String, max: usize) -> Check<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        Err(("required", "must not be empty"))
    } else if trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        Err(("invalid_text", "is too long or holds control characters"))
    } else {
        Ok(trimmed.to_owned())
    }
}

pub fn name(raw: String) -> Check<String> {
    text(raw, 200)
}

pub fn time_zone(raw: String) -> Check<String> {
    chrono_tz::Tz::from_str(&raw)
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            (
                "invalid_time_zone",
                "must be an IANA time zone such as Europe/Madrid",
            )
        })
}

pub fn currency(raw: String) -> Check<String> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(raw)
    } else {
        Err(("invalid_currency", "must be an ISO 4217 code such as EUR"))
    }
}

pub const LOCALES: &[&str] = &["es", "en"];

pub fn locale(raw: String) -> Check<String> {
    if LOCALES.contains(&raw.as_str()) {
        Ok(raw)
    } else {
        Err(("unsupported_locale", "must be one of: es, en"))
    }
}

pub fn color(raw: String) -> Check<String> {
    let lower = raw.to_ascii_lowercase();
    let ok = lower.len() == 7
        && lower.starts_with('#')
        && lower.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(lower)
    } else {
        Err(("invalid_color", "must be a colour like #aa3366"))
    }
}

pub fn email(raw: String) -> Check<String> {
    Email::parse(&raw)
        .map(|e| e.as_str().to_owned())
        .map_err(|_| ("invalid_email", "must be a valid email address"))
}

/// An E.164 phone number: `+`, then 8 to 15 digits, the first not zero. Spaces, dots,
/// dashes and parentheses people type are dropped first.
pub fn phone(raw: String) -> Check<String> {
    let compact: String = raw.chars().filter(|c| !" .-()".contains(*c)).collect();
    let digits = compact.strip_prefix('+').unwrap_or_default();
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(compact)
    } else {
        Err(("invalid_phone", "must be an E.164 number like +34911234567"))
    }
}

pub fn https_url(raw: String) -> Check<String> {
    match url::Url::parse(&raw) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() && raw.len() <= 2000 => Ok(raw),
        _ => Err(("invalid_url", "must be an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_normalize_or_refuse() {
        assert_eq!(phone("+34 911 23-45-67".into()).unwrap(), "+34911234567");
        assert!(phone("911234567".into()).is_err());
        assert!(phone("+0123456789".into()).is_err());
        assert_eq!(color("#AA3366".into()).unwrap(), "#aa3366");
        assert!(color("red".into()).is_err());
        assert_eq!(time_zone("Europe/Madrid".into()).unwrap(), "Europe/Madrid");
        assert!(time_zone("Mars/Olympus".into()).is_err());
        assert!(currency("eur".into()).is_err());
        assert!(locale("fr".into()).is_err());
        assert!(https_url("http://x.com/logo.png".into()).is_err());
        assert!(text("  ".into(), 10).is_err());
        assert!(text("a\u{0}b".into(), 10).is_err());
    }

    #[test]
    fn checks_collect_every_field() {
        let mut checks = Checks::default();
        checks.check("a", "x".to_owned(), currency);
        checks.check("b", "y".to_owned(), locale);
        match checks.finish() {
            Err(ApiError::Validation(fields)) => assert_eq!(fields.len(), 2),
            other => panic!("expected validation error, got {other:?}"),
        }
    }
}
