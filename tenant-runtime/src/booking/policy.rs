//! A service's cancellation policy: how much of the deposit comes back, by how long before
//! the start the booking is cancelled.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, FieldError};

/// Cancelling at least `hours_before` hours before the start refunds `refund_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRule {
    pub hours_before: u32,
    pub refund_percent: u8,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationPolicy {
    /// Ordered from the earliest cancellation (most hours before) to the latest.
    #[serde(default)]
    pub rules: Vec<RefundRule>,
    /// Refund when no rule applies (cancelled later than every rule allows).
    #[serde(default)]
    pub late_cancel_refund_percent: u8,
    /// Refund when the customer does not come.
    #[serde(default)]
    pub no_show_refund_percent: u8,
}

impl CancellationPolicy {
    /// Checks the policy and orders its rules; errors name the offending field.
    pub fn validated(mut self, field: &str) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut fail = |path: String, message: &str| {
            errors.push(FieldError {
                field: path,
                code: "invalid_policy".into(),
                message: message.into(),
            });
        };
        if self.rules.len() > 20 {
            fail(format!("{field}.rules"), "at most 20 rules");
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.refund_percent > 100 {
                fail(
                    format!("{field}.rules[{i}].refund_percent"),
                    "must be 0 to 100",
                );
            }
            if rule.hours_before > 24 * 365 {
                fail(
                    format!("{field}.rules[{i}].hours_before"),
                    "must be at most a year",
                );
            }
        }
        for (name, value) in [
            (
                "late_cancel_refund_percent",
                self.late_cancel_refund_percent,
            ),
            ("no_show_refund_percent", self.no_show_refund_percent),
        ] {
            if value > 100 {
                fail(format!("{field}.{name}"), "must be 0 to 100");
            }
        }
        self.rules
            .sort_by_key(|rule| std::cmp::Reverse(rule.hours_before));
        if self
            .rules
            .windows(2)
            .any(|w| w[0].hours_before == w[1].hours_before)
        {
            fail(
                format!("{field}.rules"),
                "two rules have the same hours_before",
            );
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The refund for a cancellation `minutes_left` minutes before the start.
    pub fn refund_percent(&self, minutes_left: i64) -> u8 {
        self.rules
            .iter()
            .find(|rule| minutes_left >= i64::from(rule.hours_before) * 60)
            .map_or(self.late_cancel_refund_percent, |rule| rule.refund_percent)
    }
}

/// `percent` of `cents`, rounded down to the cent.
pub fn percent_of(cents: i64, percent: u8) -> i64 {
    cents * i64::from(percent) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CancellationPolicy {
        CancellationPolicy {
            rules: vec![
                RefundRule {
                    hours_before: 24,
                    refund_percent: 50,
                },
                RefundRule {
                    hours_before: 48,
                    refund_percent: 100,
                },
            ],
            late_cancel_refund_percent: 10,
            no_show_refund_percent: 0,
        }
        .validated("policy")
        .unwrap()
    }

    #[test]
    fn refunds_by_time_left() {
        let p = policy();
        assert_eq!(p.rules[0].hours_before, 48, "rules are ordered");
        assert_eq!(p.refund_percent(72 * 60), 100);
        assert_eq!(p.refund_percent(48 * 60), 100);
        assert_eq!(p.refund_percent(48 * 60 - 1), 50);
        assert_eq!(p.refund_percent(24 * 60), 50);
        assert_eq!(p.refund_percent(23 * 60), 10);
        assert_eq!(p.refund_percent(-30), 10);
        assert_eq!(percent_of(2_999, 50), 1_499);
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let bad = CancellationPolicy {
            rules: vec![
                RefundRule {
                    hours_before: 24,
                    refund_percent: 150,
                },
                RefundRule {
                    hours_before: 24,
                    refund_percent: 10,
                },
            ],
            late_cancel_refund_percent: 101,
            no_show_refund_percent: 0,
        };
        match bad.validated("cancellation_policy") {
            Err(ApiError::Validation(fields)) => {
                let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
                assert!(names.contains(&"cancellation_policy.rules[0].refund_percent"));
                assert!(names.contains(&"cancellation_policy.late_cancel_refund_percent"));
                assert!(names.contains(&"cancellation_policy.rules"));
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
