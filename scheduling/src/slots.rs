//! Bookable slots: grid starts whose block fits in a staff member's working interval
//! without touching their bookings, merged over staff; and the same test for one start.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::local_time::local_date;
use crate::query::Day;
use crate::span::Span;
use crate::working::working_spans;
use crate::{Busy, SlotQuery, StaffCalendar};

/// A service of the query's duration starting at `start`, and who can take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Least busy on the slot's local date first, ties by id: book the first for "anyone".
    pub staff: Vec<Uuid>,
}

/// One staff member able to take a slot starting at `start`.
struct Offer {
    start: DateTime<Utc>,
    busy_that_day: TimeDelta,
    staff: Uuid,
}

/// Every slot of `query` that at least one of `calendars` can take, sorted by start.
///
/// A slot's block (`buffer_before`, the service, `buffer_after`) must lie inside one
/// working interval and overlap no busy block; touching is fine. Starts step by `grid` in
/// real time from each working interval's start plus `buffer_before`, and lie within
/// `not_before..=not_after`. Each calendar's busy blocks are swept once, in order.
pub fn available_slots(query: &SlotQuery, calendars: &[StaffCalendar]) -> Vec<Slot> {
    let days = query.days();
    let mut offers = Vec::new();
    for cal in calendars {
        collect_offers(query, cal, &days, &mut offers);
    }
    // Stable and adaptive: each calendar's offers already come in order, so this merges
    // one sorted run per calendar.
    offers.sort_by_key(|o| o.start);
    let mut slots = Vec::new();
    for group in offers.chunk_by_mut(|a, b| a.start == b.start) {
        group.sort_unstable_by_key(|o| (o.busy_that_day, o.staff));
        let Some(start) = group.first().map(|o| o.start) else {
            continue;
        };
        if let Some(end) = start.checked_add_signed(query.duration()) {
            slots.push(Slot {
                start,
                end,
                staff: group.iter().map(|o| o.staff).collect(),
            });
        }
    }
    slots
}

/// Whether `cal` can take the service starting at `start`, on or off the grid: the test
/// [`available_slots`] applies to each grid start, for validating a booking request.
pub fn fits(query: &SlotQuery, cal: &StaffCalendar, start: DateTime<Utc>) -> bool {
    if !query.in_window(start) {
        return false;
    }
    let Some(block) = query.block(start) else {
        return false;
    };
    // The block lies on its working day's local date, give or take a DST shift.
    let date = local_date(query.tz(), block.start);
    let in_hours = [date.pred_opt(), Some(date), date.succ_opt()]
        .into_iter()
        .flatten()
        .filter(|d| query.covers(*d))
        .any(|d| {
            working_spans(cal, d, query.tz())
                .iter()
                .any(|span| span.contains(block))
        });
    in_hours && !overlaps_busy(cal.busy(), block)
}

fn collect_offers(query: &SlotQuery, cal: &StaffCalendar, days: &[Day], out: &mut Vec<Offer>) {
    let own_from = out.len();
    let mut worked_until: Option<DateTime<Utc>> = None;
    let mut days_overlap = false;
    for day in days {
        let mut busy_that_day = None;
        for span in working_spans(cal, day.date, query.tz()) {
            days_overlap |= worked_until.is_some_and(|until| span.start < until);
            worked_until = worked_until.max(Some(span.end));
            grid_starts(query, span, cal.busy(), |start| {
                let busy_that_day =
                    *busy_that_day.get_or_insert_with(|| busy_within(cal.busy(), day.bounds));
                out.push(Offer {
                    start,
                    busy_that_day,
                    staff: cal.staff_id(),
                });
            });
        }
    }
    // Only a clock change across midnight can make two days' hours overlap; offer each
    // start once then.
    if days_overlap {
        let mut own = out.split_off(own_from);
        own.sort_unstable_by_key(|o| (o.start, o.busy_that_day));
        own.dedup_by_key(|o| o.start);
        out.append(&mut own);
    }
}

/// Calls `emit` with each grid start in `span` whose block avoids `busy`, in order.
fn grid_starts(query: &SlotQuery, span: Span, busy: &[Busy], mut emit: impl FnMut(DateTime<Utc>)) {
    let (lead, tail, grid) = (query.buffer_before(), query.tail(), query.grid());
    let (Some(origin), Some(latest)) = (
        span.start.checked_add_signed(lead),
        span.end.checked_sub_signed(tail),
    ) else {
        return;
    };
    let last = latest.min(query.not_after());
    let mut next = align_up(origin, query.not_before().max(origin), grid, last);
    let mut i = busy.partition_point(|b| b.end() <= span.start);
    while let Some(start) = next {
        let Some(block) = query.block(start) else {
            return;
        };
        while busy.get(i).is_some_and(|b| b.end() <= block.start) {
            i += 1;
        }
        next = match busy.get(i) {
            Some(b) if b.start() < block.end => {
                // Jump straight to the first grid start whose block begins after it.
                b.end()
                    .checked_add_signed(lead)
                    .and_then(|t| align_up(origin, t, grid, last))
            }
            _ => {
                emit(start);
                start.checked_add_signed(grid).filter(|next| *next <= last)
            }
        };
    }
}

/// The first grid point `origin + k·grid` (k ≥ 0) at or after `t`, unless it is past `last`.
fn align_up(
    origin: DateTime<Utc>,
    t: DateTime<Utc>,
    grid: TimeDelta,
    last: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let point = if t <= origin {
        origin
    } else {
        let gap = (t - origin).num_nanoseconds()?;
        let step = grid.num_nanoseconds().filter(|s| *s > 0)?;
        let steps = gap / step + i64::from(gap % step != 0);
        origin.checked_add_signed(TimeDelta::nanoseconds(steps.checked_mul(step)?))?
    };
    (point <= last).then_some(point)
}

/// Busy time within `day`.
fn busy_within(busy: &[Busy], day: Span) -> TimeDelta {
    let first = busy.partition_point(|b| b.end() <= day.start);
    busy[first..]
        .iter()
        .take_while(|b| b.start() < day.end)
        .map(|b| b.end().min(day.end) - b.start().max(day.start))
        .try_fold(TimeDelta::zero(), |sum, d| sum.checked_add(&d))
        .unwrap_or(TimeDelta::MAX)
}

/// Whether `block` overlaps any of `busy` (sorted and disjoint).
fn overlaps_busy(busy: &[Busy], block: Span) -> bool {
    let i = busy.partition_point(|b| b.end() <= block.start);
    busy.get(i).is_some_and(|b| b.start() < block.end)
}
