//! Generated calendars checked against a brute-force model: `available_slots` must list
//! exactly the grid starts each staff member can take, in the right order, and `fits` must
//! agree with the model for grid and off-grid starts alike.

// Fixtures fail loudly on purpose: a broken one must stop the test at once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use common::*;
use scheduling::{
    Busy, Exception, ExceptionKind, Slot, SlotQuery, SlotQueryParams, StaffCalendar, TimeRange,
    WeeklyHours, available_slots, fits, working_intervals,
};
use uuid::Uuid;

const CASES: u64 = 400;

const ZONES: [Tz; 6] = [
    chrono_tz::Europe::Madrid,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
    chrono_tz::UTC,
    // Went from Russian to American time in 1867 and lived one date twice.
    chrono_tz::America::Sitka,
];

/// Around the 2026 clock changes of the zones above, an ordinary week, and Sitka's
/// repeated day.
const FIRST_DATES: [(i32, u32, u32); 8] = [
    (2026, 3, 27),
    (2026, 10, 23),
    (2026, 3, 6),
    (2026, 10, 30),
    (2026, 4, 3),
    (2026, 10, 2),
    (2026, 6, 15),
    (1867, 10, 16),
];

struct Case {
    query: SlotQuery,
    staff: Vec<StaffCalendar>,
    /// The busy blocks as generated: unsorted, possibly overlapping.
    raw_busy: Vec<Vec<Busy>>,
}

fn quarter_time(rng: &mut Rng, max_quarters: i64) -> NaiveTime {
    let q = rng.range(0, max_quarters) as u32;
    time(q / 4, (q % 4) * 15)
}

fn random_hours(rng: &mut Rng) -> TimeRange {
    let start = quarter_time(rng, 94);
    let len = TimeDelta::minutes(15 * rng.range(1, 40));
    let end = (start + len).min(time(23, 45));
    let end = if end <= start { time(23, 59) } else { end };
    TimeRange::new(start, end).unwrap()
}

fn random_case(rng: &mut Rng) -> Case {
    let tz = rng.pick(&ZONES);
    let (y, m, d) = rng.pick(&FIRST_DATES);
    let from = date(y, m, d);
    let to = from + Days::new(rng.range(0, 4) as u64);
    let span_days = (to - from).num_days();
    let day_in_range = |rng: &mut Rng| from + Days::new(rng.range(0, span_days) as u64);
    let mut staff = Vec::new();
    let mut raw_busy = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let mut weekly = Vec::new();
        for day in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ] {
            for _ in 0..rng.range(0, 2) {
                let hours = random_hours(rng);
                let w = if rng.chance(20) {
                    let bound = Some(day_in_range(rng));
                    if rng.chance(50) {
                        WeeklyHours::between(day, hours, bound, None)
                    } else {
                        WeeklyHours::between(day, hours, None, bound)
                    }
                    .unwrap()
                } else {
                    WeeklyHours::new(day, hours)
                };
                weekly.push(w);
            }
        }
        let mut exceptions = Vec::new();
        for _ in 0..rng.range(0, 3) {
            let kind = rng.pick(&[
                ExceptionKind::TimeOff,
                ExceptionKind::Holiday,
                ExceptionKind::CustomHours,
            ]);
            let a = day_in_range(rng);
            let b = a + Days::new(rng.range(0, 2) as u64);
            let hours =
                (kind == ExceptionKind::CustomHours || rng.chance(60)).then(|| random_hours(rng));
            exceptions.push(Exception::new(kind, a, b, hours).unwrap());
        }
        let origin = tz
            .from_local_datetime(&from.and_time(NaiveTime::MIN))
            .earliest()
            .unwrap()
            .to_utc();
        let mut busy = Vec::new();
        for _ in 0..rng.range(0, 14) {
            let start = origin + TimeDelta::minutes(5 * rng.range(0, 288 * (span_days + 1)));
            let end = start + TimeDelta::minutes(5 * rng.range(1, 36));
            busy.push(Busy::new(start, end).unwrap());
        }
        let staff_id = Uuid::from_u128(rng.range(1, 6) as u128 * 1000 + staff.len() as u128);
        staff.push(StaffCalendar::new(
            staff_id,
            weekly,
            exceptions,
            busy.clone(),
        ));
        raw_busy.push(busy);
    }
    let origin = Utc.from_utc_datetime(&from.and_time(NaiveTime::MIN));
    let not_before = origin + TimeDelta::minutes(rng.range(-24 * 60, 3 * 24 * 60));
    let not_after = not_before + TimeDelta::minutes(rng.range(0, 5 * 24 * 60));
    let query = SlotQuery::new(SlotQueryParams {
        tz,
        from,
        to,
        duration: TimeDelta::minutes(5 * rng.range(1, 24)),
        buffer_before: TimeDelta::minutes(5 * rng.range(0, 4)),
        buffer_after: TimeDelta::minutes(5 * rng.range(0, 4)),
        grid: TimeDelta::minutes(rng.pick(&[5, 7, 10, 15, 20, 30, 45, 60])),
        not_before,
        not_after,
    })
    .unwrap();
    Case {
        query,
        staff,
        raw_busy,
    }
}

fn dates(q: &SlotQuery) -> Vec<NaiveDate> {
    q.from().iter_days().take_while(|d| *d <= q.to()).collect()
}

fn overlaps(busy: &[Busy], start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    busy.iter().any(|b| b.start() < end && start < b.end())
}

/// Length of the union of `busy` within the local date `day` (no zone here has a gap at
/// midnight, so midnight always exists).
fn busy_on(q: &SlotQuery, busy: &[Busy], day: NaiveDate) -> TimeDelta {
    let midnight = |d: NaiveDate| {
        q.tz()
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .unwrap()
            .to_utc()
    };
    let (lo, hi) = (midnight(day), midnight(day.succ_opt().unwrap()));
    let mut clipped: Vec<(DateTime<Utc>, DateTime<Utc>)> = busy
        .iter()
        .map(|b| (b.start().max(lo), b.end().min(hi)))
        .filter(|(s, e)| s < e)
        .collect();
    clipped.sort();
    let mut total = TimeDelta::zero();
    let mut covered_until = lo;
    for (s, e) in clipped {
        let s = s.max(covered_until);
        if s < e {
            total += e - s;
            covered_until = e;
        }
    }
    total
}

/// One grid start of one staff member's working interval, and whether they can take it.
struct GridPoint {
    start: DateTime<Utc>,
    busy_that_day: TimeDelta,
    staff: Uuid,
    free: bool,
}

/// Every grid start of every working interval, tested against every busy block.
fn model_grid(case: &Case) -> Vec<GridPoint> {
    let q = &case.query;
    let tail = q.duration() + q.buffer_after();
    let mut points = Vec::new();
    for (cal, raw) in case.staff.iter().zip(&case.raw_busy) {
        for day in dates(q) {
            let busy_that_day = busy_on(q, raw, day);
            for (lo, hi) in working_intervals(cal, day, q.tz()) {
                let mut start = lo + q.buffer_before();
                while start + tail <= hi {
                    let in_window = q.not_before() <= start && start <= q.not_after();
                    let free = in_window && !overlaps(raw, start - q.buffer_before(), start + tail);
                    points.push(GridPoint {
                        start,
                        busy_that_day,
                        staff: cal.staff_id(),
                        free,
                    });
                    start += q.grid();
                }
            }
        }
    }
    points
}

fn model_slots(q: &SlotQuery, grid: &[GridPoint]) -> Vec<Slot> {
    let mut offers: Vec<_> = grid
        .iter()
        .filter(|p| p.free)
        .map(|p| (p.start, p.busy_that_day, p.staff))
        .collect();
    offers.sort();
    let mut slots: Vec<Slot> = Vec::new();
    for (start, _, staff) in offers {
        match slots.last_mut() {
            // Where two dates' hours overlap, a staff member is offered once.
            Some(s) if s.start == start => {
                if !s.staff.contains(&staff) {
                    s.staff.push(staff);
                }
            }
            _ => slots.push(Slot {
                start,
                end: start + q.duration(),
                staff: vec![staff],
            }),
        }
    }
    slots
}

/// Whether one staff member can take `start`, by trying every date of the query.
fn model_fits(q: &SlotQuery, cal: &StaffCalendar, raw: &[Busy], start: DateTime<Utc>) -> bool {
    let (lo, hi) = (
        start - q.buffer_before(),
        start + q.duration() + q.buffer_after(),
    );
    q.not_before() <= start
        && start <= q.not_after()
        && !overlaps(raw, lo, hi)
        && dates(q).into_iter().any(|d| {
            working_intervals(cal, d, q.tz())
                .iter()
                .any(|(a, b)| *a <= lo && hi <= *b)
        })
}

#[test]
fn available_slots_and_fits_agree_with_the_model() {
    let mut rng = Rng::new(0x5EED_CAFE);
    let (mut slots_seen, mut grid_checked, mut fits_checked, mut fits_true) = (0, 0, 0, 0);
    for case_no in 0..CASES {
        let case = random_case(&mut rng);
        let q = &case.query;
        let grid = model_grid(&case);
        let expected = model_slots(q, &grid);
        let got = available_slots(q, &case.staff);
        assert_eq!(got, expected, "case {case_no}: {q:?}");
        slots_seen += got.len();

        // On each staff member's own grid, `fits` says yes exactly where a slot lists them.
        for point in &grid {
            let cal = case
                .staff
                .iter()
                .find(|c| c.staff_id() == point.staff)
                .unwrap();
            let at = point.start;
            assert_eq!(fits(q, cal, at), point.free, "case {case_no} at {at}");
            grid_checked += 1;
        }
        // Any start, on the grid or not: anywhere in the dates, or near a free grid start,
        // where the answer changes.
        let free: Vec<DateTime<Utc>> = grid.iter().filter(|p| p.free).map(|p| p.start).collect();
        let first = Utc.from_utc_datetime(&(q.from() - Days::new(1)).and_time(NaiveTime::MIN));
        let minutes = ((q.to() - q.from()).num_days() + 3) * 24 * 60;
        for _ in 0..300 {
            let seconds = TimeDelta::seconds(if rng.chance(10) { rng.range(1, 59) } else { 0 });
            let start = if !free.is_empty() && rng.chance(50) {
                rng.pick(&free) + TimeDelta::minutes(rng.range(-20, 20)) + seconds
            } else {
                first + TimeDelta::minutes(rng.range(0, minutes)) + seconds
            };
            for (cal, raw) in case.staff.iter().zip(&case.raw_busy) {
                let want = model_fits(q, cal, raw, start);
                assert_eq!(
                    fits(q, cal, start),
                    want,
                    "case {case_no} at {start}: {q:?}"
                );
                fits_checked += 1;
                fits_true += usize::from(want);
            }
        }
    }
    eprintln!(
        "{slots_seen} slots, {grid_checked} grid starts, {fits_true} of {fits_checked} starts fit"
    );
    // The generator must produce real work, not empty calendars.
    assert!(slots_seen > 5_000, "only {slots_seen} slots");
    assert!(grid_checked > slots_seen, "only {grid_checked} grid starts");
    assert!(
        fits_true > 20_000,
        "only {fits_true} of {fits_checked} starts fit"
    );
}
