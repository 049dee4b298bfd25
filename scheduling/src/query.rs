//! What a client asks availability for: which dates, which service timing, which slot grid
//! and which booking window, validated once so the slot search can trust it.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::local_time::{Edge, instant, local_date};
use crate::span::Span;
use crate::{Error, Result};

/// The most dates one query may span; the booking horizon is far shorter.
const MAX_DAYS: u64 = 366;

/// The raw request, with public fields so callers can build it with a struct literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotQueryParams {
    /// The salon's time zone.
    pub tz: Tz,
    /// First local date to search.
    pub from: NaiveDate,
    /// Last local date to search, inclusive.
    pub to: NaiveDate,
    /// How long the service takes.
    pub duration: TimeDelta,
    /// Preparation the staff member needs before the service.
    pub buffer_before: TimeDelta,
    /// Clean-up the staff member needs after the service.
    pub buffer_after: TimeDelta,
    /// The step between slot starts.
    pub grid: TimeDelta,
    /// No slot starts earlier: now plus the minimum notice.
    pub not_before: DateTime<Utc>,
    /// No slot starts later: now plus the maximum horizon.
    pub not_after: DateTime<Utc>,
}

/// A validated [`SlotQueryParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotQuery(SlotQueryParams);

/// A local date of a query with the UTC bounds of that day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Day {
    pub date: NaiveDate,
    pub bounds: Span,
}

impl SlotQuery {
    pub fn new(p: SlotQueryParams) -> Result<Self> {
        let day = TimeDelta::days(1);
        let err = |field, code, message| Err(Error::invalid(field, code, message));
        if p.duration <= TimeDelta::zero() || p.duration > day {
            return err(
                "duration",
                "out_of_range",
                "must be more than zero and at most a day",
            );
        }
        for (field, buffer) in [
            ("buffer_before", p.buffer_before),
            ("buffer_after", p.buffer_after),
        ] {
            if buffer < TimeDelta::zero() || buffer > day {
                return err(field, "out_of_range", "must be between zero and a day");
            }
        }
        // A finer grid would only multiply the slots offered, and the work to find them.
        if p.grid < TimeDelta::minutes(1) || p.grid > day {
            return err(
                "grid",
                "out_of_range",
                "must be between one minute and a day",
            );
        }
        if p.from > p.to {
            return err("to", "reversed", "must not be before from");
        }
        if p.from
            .checked_add_days(Days::new(MAX_DAYS))
            .is_none_or(|limit| p.to >= limit)
        {
            return err("to", "too_far", "a query may span at most 366 days");
        }
        if p.not_before > p.not_after {
            return err("not_after", "reversed", "must not be before not_before");
        }
        Ok(Self(p))
    }

    pub fn tz(&self) -> Tz {
        self.0.tz
    }

    pub fn from(&self) -> NaiveDate {
        self.0.from
    }

    pub fn to(&self) -> NaiveDate {
        self.0.to
    }

    pub fn duration(&self) -> TimeDelta {
        self.0.duration
    }

    pub fn buffer_before(&self) -> TimeDelta {
        self.0.buffer_before
    }

    pub fn buffer_after(&self) -> TimeDelta {
        self.0.buffer_after
    }

    pub fn grid(&self) -> TimeDelta {
        self.0.grid
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        self.0.not_before
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        self.0.not_after
    }

    /// From a slot's start to its block's end: the service and the buffer after it.
    pub(crate) fn tail(&self) -> TimeDelta {
        self.0.duration + self.0.buffer_after
    }

    /// The block a service starting at `start` takes from the staff member's time.
    pub(crate) fn block(&self, start: DateTime<Utc>) -> Option<Span> {
        Some(Span {
            start: start.checked_sub_signed(self.0.buffer_before)?,
            end: start.checked_add_signed(self.tail())?,
        })
    }

    pub(crate) fn in_window(&self, start: DateTime<Utc>) -> bool {
        self.0.not_before <= start && start <= self.0.not_after
    }

    pub(crate) fn covers(&self, date: NaiveDate) -> bool {
        self.0.from <= date && date <= self.0.to
    }

    /// The query's dates that can hold a slot inside the window, with their bounds.
    ///
    /// A slot lies on its working day's local date, so dates outside the window's local
    /// dates are skipped; the two-day margin keeps that true across any DST shift.
    pub(crate) fn days(&self) -> Vec<Day> {
        let margin = Days::new(2);
        let earliest = local_date(self.tz(), self.not_before()).checked_sub_days(margin);
        let latest = local_date(self.tz(), self.not_after()).checked_add_days(margin);
        let first = earliest.map_or(self.from(), |d| d.max(self.from()));
        let last = latest.map_or(self.to(), |d| d.min(self.to()));
        first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter_map(|date| {
                let start = instant(self.tz(), date, NaiveTime::MIN, Edge::Start)?;
                let next = date.succ_opt()?;
                let end = instant(self.tz(), next, NaiveTime::MIN, Edge::Start)?;
                Some(Day {
                    date,
                    bounds: Span { start, end },
                })
            })
            .collect()
    }
}

impl TryFrom<SlotQueryParams> for SlotQuery {
    type Error = Error;
    fn try_from(p: SlotQueryParams) -> Result<Self> {
        Self::new(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn params() -> SlotQueryParams {
        let now = Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).unwrap();
        SlotQueryParams {
            tz: chrono_tz::Europe::Madrid,
            from: NaiveDate::from_ymd_opt(2026, 5, 4).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 5, 10).unwrap(),
            duration: TimeDelta::minutes(60),
            buffer_before: TimeDelta::minutes(10),
            buffer_after: TimeDelta::minutes(5),
            grid: TimeDelta::minutes(15),
            not_before: now,
            not_after: now + TimeDelta::days(60),
        }
    }

    fn refused(p: SlotQueryParams) -> (&'static str, &'static str) {
        let e = SlotQuery::new(p).unwrap_err();
        (e.field(), e.code())
    }

    #[test]
    fn accepts_a_sensible_query() {
        let q = SlotQuery::new(params()).unwrap();
        assert_eq!(q.tail(), TimeDelta::minutes(65));
    }

    #[test]
    fn refuses_out_of_range_values() {
        let p = params();
        let zero = TimeDelta::zero();
        let cases = [
            (
                SlotQueryParams {
                    duration: zero,
                    ..p
                },
                ("duration", "out_of_range"),
            ),
            (
                SlotQueryParams {
                    duration: TimeDelta::hours(25),
                    ..p
                },
                ("duration", "out_of_range"),
            ),
            (
                SlotQueryParams {
                    buffer_before: -TimeDelta::minutes(1),
                    ..p
                },
                ("buffer_before", "out_of_range"),
            ),
            (
                SlotQueryParams {
                    buffer_after: TimeDelta::days(2),
                    ..p
                },
                ("buffer_after", "out_of_range"),
            ),
            (
                SlotQueryParams {
                    grid: TimeDelta::seconds(30),
                    ..p
                },
                ("grid", "out_of_range"),
            ),
            (
                SlotQueryParams {
                    to: p.from.pred_opt().unwrap(),
                    ..p
                },
                ("to", "reversed"),
            ),
            (
                SlotQueryParams {
                    to: p.from + Days::new(366),
                    ..p
                },
                ("to", "too_far"),
            ),
            (
                SlotQueryParams {
                    not_after: p.not_before - TimeDelta::seconds(1),
                    ..p
                },
                ("not_after", "reversed"),
            ),
        ];
        for (p, expected) in cases {
            assert_eq!(refused(p), expected);
        }
        assert!(
            SlotQuery::new(SlotQueryParams {
                to: p.from + Days::new(365),
                ..p
            })
            .is_ok()
        );
    }

    #[test]
    fn days_are_clipped_to_the_window_with_a_margin() {
        let p = params();
        let q = SlotQuery::new(SlotQueryParams {
            from: p.from - Days::new(30),
            to: p.from + Days::new(300),
            ..p
        })
        .unwrap();
        let days = q.days();
        // not_before is 2026-05-04, not_after 2026-07-03 (local); two days either side.
        assert_eq!(
            days.first().unwrap().date,
            NaiveDate::from_ymd_opt(2026, 5, 2).unwrap()
        );
        assert_eq!(
            days.last().unwrap().date,
            NaiveDate::from_ymd_opt(2026, 7, 5).unwrap()
        );
        assert_eq!(days.len(), 65);
        let first = days.first().unwrap().bounds;
        assert_eq!(
            first.start,
            Utc.with_ymd_and_hms(2026, 5, 1, 22, 0, 0).unwrap()
        );
        assert_eq!(
            first.end,
            Utc.with_ymd_and_hms(2026, 5, 2, 22, 0, 0).unwrap()
        );
    }
}
