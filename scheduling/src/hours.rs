//! Salon-local working hours: a validated wall-clock range, and the weekly pattern a staff
//! member works, optionally limited to a period of dates.

use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A wall-clock range within one local day, `start < end`. Ranges crossing midnight are
/// not supported, so they are refused here rather than silently misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange", into = "RawRange")]
pub struct TimeRange {
    start: NaiveTime,
    end: NaiveTime,
}

impl TimeRange {
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<Self> {
        if start >= end {
            return Err(Error::invalid(
                "hours",
                "not_increasing",
                "the start must be before the end, within one day",
            ));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn end(&self) -> NaiveTime {
        self.end
    }
}

#[derive(Serialize, Deserialize)]
struct RawRange {
    start: NaiveTime,
    end: NaiveTime,
}

impl TryFrom<RawRange> for TimeRange {
    type Error = Error;
    fn try_from(raw: RawRange) -> Result<Self> {
        Self::new(raw.start, raw.end)
    }
}

impl From<TimeRange> for RawRange {
    fn from(r: TimeRange) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

/// One weekly working interval of a staff member, in salon-local wall-clock time. A
/// weekday may have several (09:00–13:00 and 15:00–19:00); `valid_from`/`valid_until`
/// bound, inclusively, the dates on which it applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawWeekly", into = "RawWeekly")]
pub struct WeeklyHours {
    weekday: Weekday,
    hours: TimeRange,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

impl WeeklyHours {
    /// Hours that apply every week, with no end date.
    pub fn new(weekday: Weekday, hours: TimeRange) -> Self {
        Self {
            weekday,
            hours,
            valid_from: None,
            valid_until: None,
        }
    }

    /// Hours that apply only on dates within `valid_from..=valid_until` (either side open).
    pub fn between(
        weekday: Weekday,
        hours: TimeRange,
        valid_from: Option<NaiveDate>,
        valid_until: Option<NaiveDate>,
    ) -> Result<Self> {
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && from > until
        {
            return Err(Error::invalid(
                "valid_until",
                "reversed",
                "must not be before valid_from",
            ));
        }
        Ok(Self {
            weekday,
            hours,
            valid_from,
            valid_until,
        })
    }

    pub fn weekday(&self) -> Weekday {
        self.weekday
    }

    pub fn hours(&self) -> TimeRange {
        self.hours
    }

    pub fn valid_from(&self) -> Option<NaiveDate> {
        self.valid_from
    }

    pub fn valid_until(&self) -> Option<NaiveDate> {
        self.valid_until
    }

    /// Whether these hours are worked on the local date `date`.
    pub fn applies_on(&self, date: NaiveDate) -> bool {
        use chrono::Datelike;
        date.weekday() == self.weekday
            && self.valid_from.is_none_or(|from| from <= date)
            && self.valid_until.is_none_or(|until| date <= until)
    }
}

#[derive(Serialize, Deserialize)]
struct RawWeekly {
    weekday: Weekday,
    start: NaiveTime,
    end: NaiveTime,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

impl TryFrom<RawWeekly> for WeeklyHours {
    type Error = Error;
    fn try_from(raw: RawWeekly) -> Result<Self> {
        let hours = TimeRange::new(raw.start, raw.end)?;
        Self::between(raw.weekday, hours, raw.valid_from, raw.valid_until)
    }
}

impl From<WeeklyHours> for RawWeekly {
    fn from(w: WeeklyHours) -> Self {
        Self {
            weekday: w.weekday,
            start: w.hours.start,
            end: w.hours.end,
            valid_from: w.valid_from,
            valid_until: w.valid_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn time_range_must_increase() {
        assert!(TimeRange::new(t(9, 0), t(9, 1)).is_ok());
        for (s, e) in [(t(9, 0), t(9, 0)), (t(22, 0), t(2, 0))] {
            let err = TimeRange::new(s, e).unwrap_err();
            assert_eq!((err.field(), err.code()), ("hours", "not_increasing"));
        }
    }

    #[test]
    fn validity_is_inclusive_and_checked() {
        let hours = TimeRange::new(t(9, 0), t(17, 0)).unwrap();
        let w = WeeklyHours::between(
            Weekday::Mon,
            hours,
            Some(d(2026, 3, 2)),
            Some(d(2026, 3, 16)),
        )
        .unwrap();
        // Mondays 2026-02-23, 03-02, 03-16, 03-23; Tuesday 03-03.
        assert!(!w.applies_on(d(2026, 2, 23)));
        assert!(w.applies_on(d(2026, 3, 2)));
        assert!(!w.applies_on(d(2026, 3, 3)));
        assert!(w.applies_on(d(2026, 3, 16)));
        assert!(!w.applies_on(d(2026, 3, 23)));
        let err = WeeklyHours::between(
            Weekday::Mon,
            hours,
            Some(d(2026, 3, 2)),
            Some(d(2026, 3, 1)),
        )
        .unwrap_err();
        assert_eq!((err.field(), err.code()), ("valid_until", "reversed"));
    }

    #[test]
    fn deserializing_validates() {
        let ok = r#"{"weekday":"Tue","start":"09:00:00","end":"13:00:00","valid_from":null,"valid_until":null}"#;
        let w: WeeklyHours = serde_json::from_str(ok).unwrap();
        assert_eq!(
            w,
            WeeklyHours::new(Weekday::Tue, TimeRange::new(t(9, 0), t(13, 0)).unwrap())
        );
        assert_eq!(serde_json::to_string(&w).unwrap(), ok);
        let bad = r#"{"weekday":"Tue","start":"13:00:00","end":"09:00:00","valid_from":null,"valid_until":null}"#;
        assert!(serde_json::from_str::<WeeklyHours>(bad).is_err());
    }
}
