//! The booking state machine.
//!
//! ```text
//! draft → pending_payment → confirmed → rescheduled → … → completed | cancelled | no_show
//!       ↘ confirmed        ↘ expired | cancelled
//! ```

use std::{fmt, str::FromStr};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Draft,
    PendingPayment,
    Confirmed,
    Rescheduled,
    Cancelled,
    NoShow,
    Completed,
    Expired,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 8] = [
        Self::Draft,
        Self::PendingPayment,
        Self::Confirmed,
        Self::Rescheduled,
        Self::Cancelled,
        Self::NoShow,
        Self::Completed,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::PendingPayment => "pending_payment",
            Self::Confirmed => "confirmed",
            Self::Rescheduled => "rescheduled",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
            Self::Completed => "completed",
            Self::Expired => "expired",
        }
    }

    /// Whether the booking still holds its staff members' time.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            Self::Draft | Self::PendingPayment | Self::Confirmed | Self::Rescheduled
        )
    }

    pub fn can_become(self, to: BookingStatus) -> bool {
        use BookingStatus::*;
        matches!(
            (self, to),
            (Draft, PendingPayment | Confirmed)
                | (PendingPayment, Confirmed | Expired | Cancelled)
                | (
                    Confirmed | Rescheduled,
                    Rescheduled | Cancelled | NoShow | Completed
                )
        )
    }
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BookingStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::BookingStatus::*;

    #[test]
    fn transitions() {
        assert!(Draft.can_become(PendingPayment));
        assert!(PendingPayment.can_become(Confirmed));
        assert!(PendingPayment.can_become(Expired));
        assert!(Confirmed.can_become(Rescheduled));
        assert!(Rescheduled.can_become(Rescheduled));
        assert!(Rescheduled.can_become(Completed));
        assert!(!Cancelled.can_become(Confirmed));
        assert!(!Completed.can_become(Cancelled));
        assert!(!Expired.can_become(Confirmed));
        assert!(!PendingPayment.can_become(NoShow));
        assert!(!Draft.can_become(Completed));
    }

    #[test]
    fn liveness() {
        let live: Vec<_> = super::BookingStatus::ALL
            .into_iter()
            .filter(|s| s.is_live())
            .collect();
        assert_eq!(live, [Draft, PendingPayment, Confirmed, Rescheduled]);
    }
}
