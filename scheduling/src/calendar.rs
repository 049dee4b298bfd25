//! A staff member's calendar: weekly hours, exceptions and the time already booked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Exception, Result, WeeklyHours};

/// Time a staff member is already taken: a live booking's block, buffers included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawBusy", into = "RawBusy")]
pub struct Busy {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Busy {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if start >= end {
            return Err(Error::invalid(
                "busy",
                "not_increasing",
                "the start must be before the end",
            ));
        }
        Ok(Self { start, end })
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

#[derive(Serialize, Deserialize)]
struct RawBusy {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TryFrom<RawBusy> for Busy {
    type Error = Error;
    fn try_from(raw: RawBusy) -> Result<Self> {
        Self::new(raw.start, raw.end)
    }
}

impl From<Busy> for RawBusy {
    fn from(b: Busy) -> Self {
        Self {
            start: b.start,
            end: b.end,
        }
    }
}

/// Everything availability needs to know about one staff member.
///
/// Busy blocks are sorted and merged where they overlap or touch once, here, so that every
/// query can sweep them in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffCalendar {
    staff_id: Uuid,
    weekly: Vec<WeeklyHours>,
    exceptions: Vec<Exception>,
    busy: Vec<Busy>,
}

impl StaffCalendar {
    pub fn new(
        staff_id: Uuid,
        weekly: Vec<WeeklyHours>,
        exceptions: Vec<Exception>,
        mut busy: Vec<Busy>,
    ) -> Self {
        busy.sort_unstable_by_key(|b| b.start);
        let mut merged: Vec<Busy> = Vec::with_capacity(busy.len());
        for b in busy {
            match merged.last_mut() {
                Some(last) if b.start <= last.end => last.end = last.end.max(b.end),
                _ => merged.push(b),
            }
        }
        Self {
            staff_id,
            weekly,
            exceptions,
            busy: merged,
        }
    }

    pub fn staff_id(&self) -> Uuid {
        self.staff_id
    }

    pub fn weekly(&self) -> &[WeeklyHours] {
        &self.weekly
    }

    pub fn exceptions(&self) -> &[Exception] {
        &self.exceptions
    }

    /// Busy time, sorted by start, with no two blocks overlapping or touching.
    pub fn busy(&self) -> &[Busy] {
        &self.busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 4, h, m, 0).unwrap()
    }

    fn busy(a: (u32, u32), b: (u32, u32)) -> Busy {
        Busy::new(at(a.0, a.1), at(b.0, b.1)).unwrap()
    }

    #[test]
    fn busy_must_increase() {
        let err = Busy::new(at(10, 0), at(10, 0)).unwrap_err();
        assert_eq!((err.field(), err.code()), ("busy", "not_increasing"));
    }

    #[test]
    fn busy_is_sorted_and_merged() {
        let cal = StaffCalendar::new(
            Uuid::nil(),
            vec![],
            vec![],
            vec![
                busy((14, 0), (15, 0)),
                busy((9, 0), (10, 0)),
                busy((9, 30), (9, 45)),
                busy((10, 0), (10, 30)),
                busy((12, 0), (13, 0)),
                busy((12, 30), (13, 30)),
            ],
        );
        assert_eq!(
            cal.busy(),
            [
                busy((9, 0), (10, 30)),
                busy((12, 0), (13, 30)),
                busy((14, 0), (15, 0))
            ]
        );
    }
}
