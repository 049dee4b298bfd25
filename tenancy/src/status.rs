//! The lifecycle status of a tenant, as the catalog stores it and the runtime gates on it.

use std::{fmt, str::FromStr};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    PendingPayment,
    Provisioning,
    Active,
    Suspended,
    Moving,
    Cancelled,
    Deleted,
}

impl TenantStatus {
    pub const ALL: [TenantStatus; 7] = [
        Self::PendingPayment,
        Self::Provisioning,
        Self::Active,
        Self::Suspended,
        Self::Moving,
        Self::Cancelled,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Moving => "moving",
            Self::Cancelled => "cancelled",
            Self::Deleted => "deleted",
        }
    }

    /// Whether an operator may move a tenant from this status to `to` by hand
    /// (suspend, resume, cancel, delete). Moves and provisioning have their own paths.
    pub fn can_transition_to(self, to: TenantStatus) -> bool {
        use TenantStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Provisioning)
                | (Provisioning, Active)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Active, Moving)
                | (Moving, Active)
                | (Active | Suspended | PendingPayment, Cancelled)
                | (Cancelled, Active)
                | (Cancelled | Provisioning | PendingPayment, Deleted)
        )
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", "invalid_status", "unknown status"))
    }
}

#[cfg(test)]
mod tests {
    use super::TenantStatus::*;

    #[test]
    fn lifecycle_edges() {
        assert!(Active.can_transition_to(Suspended));
        assert!(Suspended.can_transition_to(Active));
        assert!(!Deleted.can_transition_to(Active));
        assert!(!Suspended.can_transition_to(Moving));
        assert!(
            !Active.can_transition_to(Deleted),
            "cancel first, then delete"
        );
    }
}
