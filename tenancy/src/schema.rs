//! `SchemaName`: a PostgreSQL schema that holds one tenant's tables (or a warm slot, or an
//! archived tenant). Built only from validated parts and always quoted in SQL.

use std::fmt;

use crate::{TenantSlug, ValidationError};

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SchemaName(String);

impl SchemaName {
    /// The schema of a tenant: `t_` and the slug with `-` turned into `_` (slugs hold no
    /// `_`, so the mapping is one to one).
    pub fn for_tenant(slug: &TenantSlug) -> Self {
        Self(format!("t_{}", slug.as_str().replace('-', "_")))
    }

    /// The schema of warm slot number `n` in a shared pool.
    pub fn slot(n: i64) -> Self {
        Self(format!("slot_{n}"))
    }

    /// The name this schema takes when it is archived at `unix_seconds`.
    pub fn archived(&self, unix_seconds: i64) -> Self {
        let mut base = format!("arch_{unix_seconds}_{}", self.0);
        base.truncate(MAX_IDENT);
        Self(base)
    }

    /// Reads back a name stored in the catalog, with the same grammar as the constructors.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid_prefix = ["t_", "slot_", "arch_"].iter().any(|p| raw.starts_with(p));
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_prefix || !valid_chars || raw.len() > MAX_IDENT {
            return Err(ValidationError::new(
                "schema",
                "invalid_schema",
                "not a tenant schema",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_slot(&self) -> bool {
        self.0.starts_with("slot_")
    }

    /// The identifier quoted for SQL. Names hold no `"` by construction; doubling them
    /// anyway keeps this correct on its own.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_from_slug_and_quoted() {
        let s = SchemaName::for_tenant(&TenantSlug::parse("bella-spa").unwrap());
        assert_eq!(s.as_str(), "t_bella_spa");
        assert_eq!(s.quoted(), "\"t_bella_spa\"");
        let longest = SchemaName::for_tenant(&TenantSlug::parse(&"a".repeat(40)).unwrap());
        assert!(longest.as_str().len() <= 63);
    }

    #[test]
    fn archive_names_fit_postgres() {
        let s = SchemaName::for_tenant(&TenantSlug::parse(&"b".repeat(40)).unwrap());
        let a = s.archived(1_790_000_000);
        assert!(a.as_str().len() <= 63 && a.as_str().starts_with("arch_"));
        assert_eq!(SchemaName::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn parse_refuses_foreign_names() {
        for bad in [
            "public",
            "platform",
            "t_a\"b",
            "T_ACME",
            "pg_catalog",
            &format!("t_{}", "a".repeat(70)),
        ] {
            assert!(SchemaName::parse(bad).is_err(), "{bad}");
        }
        assert!(SchemaName::parse("slot_12").unwrap().is_slot());
    }
}
