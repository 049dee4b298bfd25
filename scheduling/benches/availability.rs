//! Availability for a month: 20 staff with 2,000 bookings between them, against one staff
//! member with their share (100), to see that the cost grows no faster than the staff.
//!
//! Run with `cargo bench -p scheduling`.

// Fixed fixtures are known to be valid; a benchmark that cannot build them should stop.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use scheduling::{
    Busy, Exception, ExceptionKind, SlotQuery, SlotQueryParams, StaffCalendar, TimeRange,
    WeeklyHours, available_slots,
};
use uuid::Uuid;

const TZ: Tz = chrono_tz::Europe::Madrid;
const DAYS: u64 = 31;
const BUSY_PER_STAFF: usize = 100;

/// SplitMix64, so the workload is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).expect("valid date")
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

/// The rows loaded for one staff member.
#[derive(Clone)]
struct Rows {
    id: Uuid,
    day_off: NaiveDate,
    weekly: Vec<WeeklyHours>,
    exceptions: Vec<Exception>,
    busy: Vec<Busy>,
}

impl Rows {
    fn calendar(self) -> StaffCalendar {
        StaffCalendar::new(self.id, self.weekly, self.exceptions, self.busy)
    }
}

/// `staff` members working Mon–Sat 09:00–13:00 and 15:00–20:00 with one day off each, and
/// `busy_total` random non-overlapping bookings of 30–120 minutes among them.
fn workload(staff: usize, busy_total: usize) -> Vec<Rows> {
    let mut rng = Rng(0x0B00_C1E5);
    let shifts = [(hm(9, 0), hm(13, 0)), (hm(15, 0), hm(20, 0))];
    let week = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];
    let working_days: Vec<NaiveDate> = (0..DAYS)
        .map(|d| first_day() + Days::new(d))
        .filter(|d| d.weekday() != Weekday::Sun)
        .collect();
    let mut all: Vec<Rows> = (0..staff)
        .map(|n| {
            let weekly = week
                .into_iter()
                .flat_map(|day| {
                    shifts.map(|(s, e)| {
                        WeeklyHours::new(day, TimeRange::new(s, e).expect("valid hours"))
                    })
                })
                .collect();
            let day_off = working_days[n * 7 % working_days.len()];
            let off = Exception::new(ExceptionKind::TimeOff, day_off, day_off, None)
                .expect("valid exception");
            Rows {
                id: Uuid::from_u128(n as u128 + 1),
                day_off,
                weekly,
                exceptions: vec![off],
                busy: Vec::new(),
            }
        })
        .collect();
    let mut placed = 0;
    while placed < busy_total {
        let rows = &mut all[rng.below(staff as u64) as usize];
        let day = working_days[rng.below(working_days.len() as u64) as usize];
        let (shift_start, shift_end) = shifts[rng.below(2) as usize];
        let length = TimeDelta::minutes(15 * (2 + rng.below(7) as i64));
        let quarters = ((shift_end - shift_start - length).num_minutes() / 15) as u64;
        let start_time = shift_start + TimeDelta::minutes(15 * rng.below(quarters + 1) as i64);
        let start = TZ
            .from_local_datetime(&day.and_time(start_time))
            .single()
            .expect("no DST change in May")
            .to_utc();
        let block = Busy::new(start, start + length).expect("valid busy block");
        let free = rows
            .busy
            .iter()
            .all(|b| b.end() <= block.start() || block.end() <= b.start());
        if day != rows.day_off && free {
            rows.busy.push(block);
            placed += 1;
        }
    }
    all
}

fn calendars(all: &[Rows]) -> Vec<StaffCalendar> {
    all.iter().cloned().map(Rows::calendar).collect()
}

fn query() -> SlotQuery {
    let now = Utc
        .from_local_datetime(&first_day().and_time(hm(6, 0)))
        .single()
        .expect("UTC is unambiguous");
    SlotQuery::new(SlotQueryParams {
        tz: TZ,
        from: first_day(),
        to: first_day() + Days::new(DAYS - 1),
        duration: TimeDelta::minutes(60),
        buffer_before: TimeDelta::minutes(10),
        buffer_after: TimeDelta::minutes(5),
        grid: TimeDelta::minutes(15),
        not_before: now,
        not_after: now + TimeDelta::days(90),
    })
    .expect("valid query")
}

fn bench(c: &mut Criterion) {
    let q = query();
    let many = workload(20, 20 * BUSY_PER_STAFF);
    let one = workload(1, BUSY_PER_STAFF);
    let (many_cals, one_cals) = (calendars(&many), calendars(&one));
    for (name, raws, cals) in [
        ("20 staff", &many, &many_cals),
        ("1 staff", &one, &one_cals),
    ] {
        let slots = available_slots(&q, cals);
        let offers: usize = slots.iter().map(|s| s.staff.len()).sum();
        let placed: usize = raws.iter().map(|r| r.busy.len()).sum();
        let merged: usize = cals.iter().map(|c| c.busy().len()).sum();
        println!(
            "{name}: {placed} bookings ({merged} busy blocks once touching ones merge), \
             {} slots, {offers} staff offers",
            slots.len()
        );
    }

    let mut group = c.benchmark_group("available_slots");
    group.bench_function("20 staff x 31 days, 2000 busy", |b| {
        b.iter(|| available_slots(black_box(&q), black_box(&many_cals)))
    });
    group.bench_function("1 staff x 31 days, 100 busy", |b| {
        b.iter(|| available_slots(black_box(&q), black_box(&one_cals)))
    });
    // What a request pays in all: the calendars are built (busy sorted) from loaded rows.
    group.bench_function("20 staff, building calendars too", |b| {
        b.iter_batched(
            || many.clone(),
            |rows| {
                let cals: Vec<StaffCalendar> = rows.into_iter().map(Rows::calendar).collect();
                available_slots(black_box(&q), &cals)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
