//! Where a tenant's tables are: a schema in a shared pool's database, or a database of
//! its own.

use std::fmt;

use crate::{SchemaName, TenantSlug, Tier, ValidationError};

fn ident_ok(raw: &str, max: usize, extra: u8) -> bool {
    !raw.is_empty()
        && raw.len() <= max
        && raw.as_bytes()[0].is_ascii_lowercase()
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
}

/// The name of a shared PostgreSQL pool (a shard), e.g. `shared-1`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PoolName(String);

impl PoolName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if ident_ok(raw, 40, b'-') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "pool",
                "invalid_pool",
                "1-40 chars of a-z, 0-9, '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a PostgreSQL database that holds one dedicated tenant.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct DatabaseName(String);

impl DatabaseName {
    pub fn for_tenant(slug: &TenantSlug) -> Self {
        Self(format!("tdb_{}", slug.as_str().replace('-', "_")))
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if ident_ok(raw, 63, b'_') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "database",
                "invalid_database",
                "not a database name",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

macro_rules! display_debug {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({})"), self.0)
            }
        }
    };
}
display_debug!(PoolName);
display_debug!(DatabaseName);

/// A tenant's observed placement. In a dedicated database the tenant's tables live in a
/// schema of the same name as they would in a shared pool, so every query path and the
/// tier move treat both alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "tier", rename_all = "snake_case")]
pub enum Placement {
    Shared {
        pool: PoolName,
        schema: SchemaName,
    },
    Dedicated {
        database: DatabaseName,
        schema: SchemaName,
    },
}

impl Placement {
    pub fn tier(&self) -> Tier {
        match self {
            Placement::Shared { .. } => Tier::Shared,
            Placement::Dedicated { .. } => Tier::Dedicated,
        }
    }

    pub fn schema(&self) -> &SchemaName {
        match self {
            Placement::Shared { schema, .. } | Placement::Dedicated { schema, .. } => schema,
        }
    }

    /// Rebuilds a placement from the catalog's columns, validating each part.
    pub fn from_columns(
        kind: &str,
        pool: Option<&str>,
        database: Option<&str>,
        schema: Option<&str>,
    ) -> Result<Option<Self>, ValidationError> {
        let bad =
            || ValidationError::new("placement", "invalid_placement", "inconsistent placement");
        let schema = schema.map(SchemaName::parse).transpose()?;
        match (kind, pool, database, schema) {
            ("none", _, _, _) => Ok(None),
            ("shared", Some(pool), _, Some(schema)) => Ok(Some(Placement::Shared {
                pool: PoolName::parse(pool)?,
                schema,
            })),
            ("dedicated", _, Some(db), Some(schema)) => Ok(Some(Placement::Dedicated {
                database: DatabaseName::parse(db)?,
                schema,
            })),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_round_trips_through_columns() {
        let p = Placement::from_columns("shared", Some("shared-1"), None, Some("t_acme")).unwrap();
        assert_eq!(p.as_ref().map(Placement::tier), Some(Tier::Shared));
        let d =
            Placement::from_columns("dedicated", None, Some("tdb_acme"), Some("t_acme")).unwrap();
        assert_eq!(d.unwrap().schema().as_str(), "t_acme");
        assert!(Placement::from_columns("shared", None, None, Some("t_acme")).is_err());
        assert!(Placement::from_columns("shared", Some("x"), None, Some("public")).is_err());
        assert_eq!(
            Placement::from_columns("none", None, None, None).unwrap(),
            None
        );
    }

    #[test]
    fn names_validate() {
        assert!(PoolName::parse("shared-1").is_ok());
        assert!(PoolName::parse("Shared").is_err());
        assert!(DatabaseName::parse("tdb_acme").is_ok());
        assert!(DatabaseName::parse("x\"y").is_err());
        let slug = TenantSlug::parse("bella-spa").unwrap();
        assert_eq!(DatabaseName::for_tenant(&slug).as_str(), "tdb_bella_spa");
    }
}
