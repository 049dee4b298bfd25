//! The UTC intervals a staff member works on one local date: weekly hours or custom hours,
//! less time off.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::local_time::{Edge, instant};
use crate::span::{Span, subtract, union};
use crate::{ExceptionKind, StaffCalendar, TimeRange};

/// The intervals `cal` works on the local `date` in `tz`, sorted, disjoint and non-empty.
///
/// The weekly hours that apply on `date` are used unless a `CustomHours` exception covers
/// it, in which case all such custom hours are. Time off and holidays are then taken out.
/// Hours that overlap or touch merge into one interval.
///
/// Wall-clock bounds become instants one by one before any of this, so set operations run
/// on real time: a time skipped by a DST gap means the first instant after the gap; a
/// repeated time means its earlier instant as a start and its later instant as an end.
/// Working 00:00–06:00 thus lasts five hours when clocks spring forward and seven when
/// they fall back.
pub fn working_intervals(
    cal: &StaffCalendar,
    date: NaiveDate,
    tz: Tz,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    working_spans(cal, date, tz)
        .into_iter()
        .map(|s| (s.start, s.end))
        .collect()
}

pub(crate) fn working_spans(cal: &StaffCalendar, date: NaiveDate, tz: Tz) -> Vec<Span> {
    let mut custom = Vec::new();
    let mut off = Vec::new();
    for exception in cal.exceptions().iter().filter(|e| e.covers(date)) {
        match (exception.kind(), exception.hours()) {
            (ExceptionKind::CustomHours, Some(hours)) => custom.push(hours),
            // `Exception::new` refuses custom hours without hours.
            (ExceptionKind::CustomHours, None) => {}
            (ExceptionKind::TimeOff | ExceptionKind::Holiday, None) => return Vec::new(),
            (ExceptionKind::TimeOff | ExceptionKind::Holiday, Some(hours)) => off.push(hours),
        }
    }
    let worked: Vec<Span> = if custom.is_empty() {
        cal.weekly()
            .iter()
            .filter(|w| w.applies_on(date))
            .filter_map(|w| span_of(tz, date, w.hours()))
            .collect()
    } else {
        custom
            .iter()
            .filter_map(|h| span_of(tz, date, *h))
            .collect()
    };
    let worked = union(worked);
    if off.is_empty() || worked.is_empty() {
        return worked;
    }
    let off = union(off.iter().filter_map(|h| span_of(tz, date, *h)).collect());
    subtract(&worked, &off)
}

fn span_of(tz: Tz, date: NaiveDate, hours: TimeRange) -> Option<Span> {
    Some(Span {
        start: instant(tz, date, hours.start(), Edge::Start)?,
        end: instant(tz, date, hours.end(), Edge::End)?,
    })
}
