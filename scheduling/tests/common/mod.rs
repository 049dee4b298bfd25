//! Builders shared by the integration tests: short names for dates, times and calendars.
// Not every test file uses every builder; fixtures fail loudly on purpose.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use scheduling::{
    Busy, Exception, ExceptionKind, Slot, SlotQuery, SlotQueryParams, StaffCalendar, TimeRange,
    WeeklyHours,
};
use uuid::Uuid;

pub const MADRID: Tz = chrono_tz::Europe::Madrid;

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// A salon-local time in `tz` that is neither skipped nor repeated, as UTC.
pub fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .to_utc()
}

/// 2026-05-04, a Monday, in Madrid (UTC+2).
pub fn may4(h: u32, m: u32) -> DateTime<Utc> {
    local(MADRID, 2026, 5, 4, h, m)
}

pub fn hours(from: (u32, u32), to: (u32, u32)) -> TimeRange {
    TimeRange::new(time(from.0, from.1), time(to.0, to.1)).unwrap()
}

pub fn weekly(day: Weekday, from: (u32, u32), to: (u32, u32)) -> WeeklyHours {
    WeeklyHours::new(day, hours(from, to))
}

pub fn day_off(kind: ExceptionKind, from: NaiveDate, to: NaiveDate) -> Exception {
    Exception::new(kind, from, to, None).unwrap()
}

pub fn part_off(kind: ExceptionKind, on: NaiveDate, from: (u32, u32), to: (u32, u32)) -> Exception {
    Exception::new(kind, on, on, Some(hours(from, to))).unwrap()
}

pub fn busy(start: DateTime<Utc>, end: DateTime<Utc>) -> Busy {
    Busy::new(start, end).unwrap()
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn calendar(
    n: u128,
    weekly: Vec<WeeklyHours>,
    exceptions: Vec<Exception>,
    busy: Vec<Busy>,
) -> StaffCalendar {
    StaffCalendar::new(id(n), weekly, exceptions, busy)
}

/// A query over `from..=to` with an open window; times in minutes.
pub fn query(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    duration: i64,
    (before, after): (i64, i64),
    grid: i64,
) -> SlotQuery {
    SlotQuery::new(SlotQueryParams {
        tz,
        from,
        to,
        duration: TimeDelta::minutes(duration),
        buffer_before: TimeDelta::minutes(before),
        buffer_after: TimeDelta::minutes(after),
        grid: TimeDelta::minutes(grid),
        not_before: utc(2000, 1, 1, 0, 0),
        not_after: utc(2100, 1, 1, 0, 0),
    })
    .unwrap()
}

/// The same query with another booking window.
pub fn within(q: &SlotQuery, not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> SlotQuery {
    SlotQuery::new(SlotQueryParams {
        tz: q.tz(),
        from: q.from(),
        to: q.to(),
        duration: q.duration(),
        buffer_before: q.buffer_before(),
        buffer_after: q.buffer_after(),
        grid: q.grid(),
        not_before,
        not_after,
    })
    .unwrap()
}

/// Slot starts as salon-local "HH:MM" strings.
pub fn local_starts(tz: Tz, slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s.start.with_timezone(&tz).format("%H:%M").to_string())
        .collect()
}

/// Slot starts as salon-local "HH:MM+hh:mm" strings, to tell repeated times apart.
pub fn local_starts_with_offset(tz: Tz, slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s.start.with_timezone(&tz).format("%H:%M%:z").to_string())
        .collect()
}

/// SplitMix64: a small deterministic generator, so generated cases are reproducible.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}
