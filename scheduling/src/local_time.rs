//! Salon-local wall-clock times to UTC instants, resolving DST gaps and overlaps so that a
//! working interval keeps its real length on the days the clocks change.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Which end of an interval a wall-clock time bounds; it decides which of two instants an
/// ambiguous (repeated) time means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    /// The earlier instant, so that the interval includes the whole repeated hour.
    Start,
    /// The later instant, for the same reason.
    End,
}

/// Every UTC offset tzdb has ever used lies strictly within ±16 hours (the extremes are
/// local mean times of about -15:56 and +15:13).
const MAX_OFFSET_SECS: i64 = 16 * 3600;

/// The instant at which `time` on `date` is read in `tz`. A time skipped by a DST gap
/// means the first instant after the gap; `None` only at the ends of chrono's range.
pub(crate) fn instant(
    tz: Tz,
    date: NaiveDate,
    time: NaiveTime,
    edge: Edge,
) -> Option<DateTime<Utc>> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.to_utc(), b.to_utc());
            Some(match edge {
                Edge::Start => a.min(b),
                Edge::End => a.max(b),
            })
        }
        LocalResult::None => first_after_gap(tz, local),
    }
}

/// The local date an instant falls on in `tz`.
pub(crate) fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The transition instant that skipped `local`: the first whole second whose wall-clock
/// time is at or after it.
///
/// Reading `local` as UTC and moving by the largest possible offset gives bounds whose
/// wall-clock times lie before and at-or-after `local` in every zone, so a binary search
/// between them finds a crossing; as `local` exists nowhere, that crossing is the jump over
/// it. At most 17 steps, and only on the two days a year that have a gap.
fn first_after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let naive = local.and_utc().timestamp();
    let mut before = naive.checked_sub(MAX_OFFSET_SECS + 1)?;
    let mut after = naive.checked_add(MAX_OFFSET_SECS + 1)?;
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if wall_clock(tz, mid)? >= local {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0)
}

fn wall_clock(tz: Tz, unix_secs: i64) -> Option<NaiveDateTime> {
    Some(
        DateTime::from_timestamp(unix_secs, 0)?
            .with_timezone(&tz)
            .naive_local(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Australia, Europe, Pacific};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32, edge: Edge) -> DateTime<Utc> {
        let date = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
        instant(tz, date, NaiveTime::from_hms_opt(h, mi, 0).unwrap(), edge).unwrap()
    }

    #[test]
    fn ordinary_times_are_read_with_the_offset_in_force() {
        let madrid = Europe::Madrid;
        assert_eq!(
            at(madrid, 2026, 1, 15, 9, 0, Edge::Start),
            utc(2026, 1, 15, 8, 0)
        );
        assert_eq!(
            at(madrid, 2026, 7, 15, 9, 0, Edge::End),
            utc(2026, 7, 15, 7, 0)
        );
    }

    #[test]
    fn skipped_times_mean_the_end_of_the_gap() {
        let madrid = Europe::Madrid;
        for (h, m) in [(2, 0), (2, 30), (2, 59)] {
            for edge in [Edge::Start, Edge::End] {
                assert_eq!(at(madrid, 2026, 3, 29, h, m, edge), utc(2026, 3, 29, 1, 0));
            }
        }
        assert_eq!(
            at(America::New_York, 2026, 3, 8, 2, 15, Edge::Start),
            utc(2026, 3, 8, 7, 0)
        );
        // Lord Howe moves by half an hour.
        assert_eq!(
            at(Australia::Lord_Howe, 2026, 10, 4, 2, 10, Edge::Start),
            utc(2026, 10, 3, 15, 30)
        );
        // Samoa skipped the whole of 2011-12-30.
        assert_eq!(
            at(Pacific::Apia, 2011, 12, 30, 12, 0, Edge::Start),
            utc(2011, 12, 30, 10, 0)
        );
    }

    #[test]
    fn repeated_times_mean_the_earlier_start_and_the_later_end() {
        let madrid = Europe::Madrid;
        assert_eq!(
            at(madrid, 2026, 10, 25, 2, 30, Edge::Start),
            utc(2026, 10, 25, 0, 30)
        );
        assert_eq!(
            at(madrid, 2026, 10, 25, 2, 30, Edge::End),
            utc(2026, 10, 25, 1, 30)
        );
        let ny = America::New_York;
        assert_eq!(
            at(ny, 2026, 11, 1, 1, 30, Edge::Start),
            utc(2026, 11, 1, 5, 30)
        );
        assert_eq!(
            at(ny, 2026, 11, 1, 1, 30, Edge::End),
            utc(2026, 11, 1, 6, 30)
        );
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let t = NaiveTime::MIN;
        for date in [NaiveDate::MIN, NaiveDate::MAX] {
            for edge in [Edge::Start, Edge::End] {
                let _ = instant(Europe::Madrid, date, t, edge);
            }
        }
    }
}
