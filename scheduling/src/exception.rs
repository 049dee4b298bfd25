//! Dated exceptions to a staff member's weekly hours: time off, holidays and custom hours.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, TimeRange};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    TimeOff,
    Holiday,
    CustomHours,
}

/// An exception for every local date in `date_from..=date_to`.
///
/// `TimeOff` and `Holiday` without hours take whole days off; with hours they take that
/// part of each day off. `CustomHours` always has hours: on those dates they replace the
/// weekly hours (several `CustomHours` for one date add up).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawException", into = "RawException")]
pub struct Exception {
    date_from: NaiveDate,
    date_to: NaiveDate,
    kind: ExceptionKind,
    hours: Option<TimeRange>,
}

impl Exception {
    pub fn new(
        kind: ExceptionKind,
        date_from: NaiveDate,
        date_to: NaiveDate,
        hours: Option<TimeRange>,
    ) -> Result<Self> {
        if date_from > date_to {
            return Err(Error::invalid(
                "date_to",
                "reversed",
                "must not be before date_from",
            ));
        }
        if kind == ExceptionKind::CustomHours && hours.is_none() {
            return Err(Error::invalid(
                "hours",
                "required",
                "custom hours need a start and an end",
            ));
        }
        Ok(Self {
            date_from,
            date_to,
            kind,
            hours,
        })
    }

    pub fn kind(&self) -> ExceptionKind {
        self.kind
    }

    pub fn date_from(&self) -> NaiveDate {
        self.date_from
    }

    pub fn date_to(&self) -> NaiveDate {
        self.date_to
    }

    /// The hours it concerns on each date; `None` means the whole day.
    pub fn hours(&self) -> Option<TimeRange> {
        self.hours
    }

    pub fn covers(&self, date: NaiveDate) -> bool {
        self.date_from <= date && date <= self.date_to
    }
}

/// The stored shape: a row with optional `start`/`end` columns.
#[derive(Serialize, Deserialize)]
struct RawException {
    date_from: NaiveDate,
    date_to: NaiveDate,
    kind: ExceptionKind,
    start: Option<chrono::NaiveTime>,
    end: Option<chrono::NaiveTime>,
}

impl TryFrom<RawException> for Exception {
    type Error = Error;
    fn try_from(raw: RawException) -> Result<Self> {
        let hours = match (raw.start, raw.end) {
            (Some(start), Some(end)) => Some(TimeRange::new(start, end)?),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(
                    "hours",
                    "incomplete",
                    "give both start and end, or neither",
                ));
            }
        };
        Self::new(raw.kind, raw.date_from, raw.date_to, hours)
    }
}

impl From<Exception> for RawException {
    fn from(e: Exception) -> Self {
        Self {
            date_from: e.date_from,
            date_to: e.date_to,
            kind: e.kind,
            start: e.hours.map(|h| h.start()),
            end: e.hours.map(|h| h.end()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, day).unwrap()
    }

    #[test]
    fn refuses_reversed_dates_and_custom_hours_without_hours() {
        let err = Exception::new(ExceptionKind::TimeOff, d(5), d(4), None).unwrap_err();
        assert_eq!((err.field(), err.code()), ("date_to", "reversed"));
        let err = Exception::new(ExceptionKind::CustomHours, d(5), d(5), None).unwrap_err();
        assert_eq!((err.field(), err.code()), ("hours", "required"));
    }

    #[test]
    fn covers_its_dates_inclusively() {
        let e = Exception::new(ExceptionKind::Holiday, d(4), d(6), None).unwrap();
        let covered: Vec<u32> = (1..=9).filter(|&n| e.covers(d(n))).collect();
        assert_eq!(covered, [4, 5, 6]);
    }

    #[test]
    fn deserializing_validates() {
        let ok = r#"{"date_from":"2026-05-04","date_to":"2026-05-04","kind":"custom_hours","start":"10:00:00","end":"14:00:00"}"#;
        let e: Exception = serde_json::from_str(ok).unwrap();
        assert_eq!(e.kind(), ExceptionKind::CustomHours);
        assert_eq!(serde_json::to_string(&e).unwrap(), ok);
        for bad in [
            r#"{"date_from":"2026-05-04","date_to":"2026-05-04","kind":"time_off","start":"10:00:00","end":null}"#,
            r#"{"date_from":"2026-05-04","date_to":"2026-05-04","kind":"custom_hours","start":null,"end":null}"#,
            r#"{"date_from":"2026-05-04","date_to":"2026-05-04","kind":"holiday","start":"14:00:00","end":"10:00:00"}"#,
        ] {
            assert!(serde_json::from_str::<Exception>(bad).is_err(), "{bad}");
        }
    }
}
