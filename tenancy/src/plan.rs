//! Plans and the tier they put a tenant on.

use std::{fmt, str::FromStr};

use crate::ValidationError;

/// Where a tenant's data lives: a schema in a shared database, or its own database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Shared,
    Dedicated,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Shared => "shared",
            Tier::Dedicated => "dedicated",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shared" => Ok(Tier::Shared),
            "dedicated" => Ok(Tier::Dedicated),
            _ => Err(ValidationError::new(
                "tier",
                "invalid_tier",
                "must be shared or dedicated",
            )),
        }
    }
}

/// The plans the platform sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanCode {
    Free,
    Starter,
    Professional,
    Premium,
    Enterprise,
}

impl PlanCode {
    pub const ALL: [PlanCode; 5] = [
        Self::Free,
        Self::Starter,
        Self::Professional,
        Self::Premium,
        Self::Enterprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Starter => "starter",
            Self::Professional => "professional",
            Self::Premium => "premium",
            Self::Enterprise => "enterprise",
        }
    }

    /// The tier a plan puts its tenants on.
    pub fn tier(self) -> Tier {
        match self {
            Self::Free | Self::Starter | Self::Professional => Tier::Shared,
            Self::Premium | Self::Enterprise => Tier::Dedicated,
        }
    }
}

impl fmt::Display for PlanCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlanCode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "plan",
                    "invalid_plan",
                    "must be one of free, starter, professional, premium, enterprise",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_map_to_tiers() {
        assert_eq!("free".parse::<PlanCode>().unwrap().tier(), Tier::Shared);
        assert_eq!(
            "professional".parse::<PlanCode>().unwrap().tier(),
            Tier::Shared
        );
        assert_eq!(
            "premium".parse::<PlanCode>().unwrap().tier(),
            Tier::Dedicated
        );
        assert_eq!(
            "enterprise".parse::<PlanCode>().unwrap().tier(),
            Tier::Dedicated
        );
        assert!("gold".parse::<PlanCode>().is_err());
        for p in PlanCode::ALL {
            assert_eq!(p.as_str().parse::<PlanCode>().unwrap(), p);
        }
    }
}
