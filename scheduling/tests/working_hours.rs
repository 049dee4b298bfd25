//! `working_intervals`: weekly hours, validity periods, time off, holidays and custom hours.

// Fixtures fail loudly on purpose: a broken one must stop the test at once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Weekday::{Fri, Mon, Thu, Tue, Wed};
use common::*;
use scheduling::ExceptionKind::{CustomHours, Holiday, TimeOff};
use scheduling::{WeeklyHours, working_intervals};

#[test]
fn plain_day() {
    let cal = calendar(1, vec![weekly(Mon, (9, 0), (17, 0))], vec![], vec![]);
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 4), MADRID),
        [(utc(2026, 5, 4, 7, 0), utc(2026, 5, 4, 15, 0))]
    );
    assert_eq!(working_intervals(&cal, date(2026, 5, 5), MADRID), []);
    // Winter time: the same wall-clock hours are an hour later in UTC.
    assert_eq!(
        working_intervals(&cal, date(2026, 1, 5), MADRID),
        [(utc(2026, 1, 5, 8, 0), utc(2026, 1, 5, 16, 0))]
    );
}

#[test]
fn split_shifts_stay_apart_and_touching_rows_merge() {
    let split = calendar(
        1,
        vec![weekly(Mon, (15, 0), (19, 0)), weekly(Mon, (9, 0), (13, 0))],
        vec![],
        vec![],
    );
    assert_eq!(
        working_intervals(&split, date(2026, 5, 4), MADRID),
        [(may4(9, 0), may4(13, 0)), (may4(15, 0), may4(19, 0))]
    );
    let joined = calendar(
        1,
        vec![
            weekly(Mon, (9, 0), (13, 0)),
            weekly(Mon, (13, 0), (15, 0)),
            weekly(Mon, (14, 0), (16, 0)),
        ],
        vec![],
        vec![],
    );
    assert_eq!(
        working_intervals(&joined, date(2026, 5, 4), MADRID),
        [(may4(9, 0), may4(16, 0))]
    );
}

#[test]
fn validity_periods_choose_the_hours_in_force() {
    let old =
        WeeklyHours::between(Mon, hours((9, 0), (17, 0)), None, Some(date(2026, 5, 10))).unwrap();
    let new =
        WeeklyHours::between(Mon, hours((10, 0), (18, 0)), Some(date(2026, 5, 11)), None).unwrap();
    let summer = WeeklyHours::between(
        Mon,
        hours((19, 0), (21, 0)),
        Some(date(2026, 5, 11)),
        Some(date(2026, 5, 11)),
    )
    .unwrap();
    let cal = calendar(1, vec![old, new, summer], vec![], vec![]);
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 4), MADRID),
        [(utc(2026, 5, 4, 7, 0), utc(2026, 5, 4, 15, 0))]
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 11), MADRID),
        [
            (utc(2026, 5, 11, 8, 0), utc(2026, 5, 11, 16, 0)),
            (utc(2026, 5, 11, 17, 0), utc(2026, 5, 11, 19, 0))
        ]
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 18), MADRID),
        [(utc(2026, 5, 18, 8, 0), utc(2026, 5, 18, 16, 0))]
    );
}

#[test]
fn whole_day_time_off_clears_the_day_only() {
    let cal = calendar(
        1,
        vec![weekly(Mon, (9, 0), (17, 0))],
        vec![day_off(TimeOff, date(2026, 5, 4), date(2026, 5, 4))],
        vec![],
    );
    assert_eq!(working_intervals(&cal, date(2026, 5, 4), MADRID), []);
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 11), MADRID),
        [(utc(2026, 5, 11, 7, 0), utc(2026, 5, 11, 15, 0))]
    );
}

#[test]
fn partial_time_off_cuts_the_day() {
    let cal = calendar(
        1,
        vec![weekly(Mon, (9, 0), (13, 0)), weekly(Mon, (15, 0), (19, 0))],
        vec![
            part_off(TimeOff, date(2026, 5, 4), (11, 0), (12, 30)),
            // Runs past the end of the morning shift and into the break.
            part_off(TimeOff, date(2026, 5, 4), (12, 45), (14, 0)),
            part_off(Holiday, date(2026, 5, 4), (18, 0), (23, 0)),
        ],
        vec![],
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 4), MADRID),
        [
            (may4(9, 0), may4(11, 0)),
            (may4(12, 30), may4(12, 45)),
            (may4(15, 0), may4(18, 0))
        ]
    );
}

#[test]
fn holiday_range_clears_every_day_in_it() {
    let week = [Mon, Tue, Wed, Thu, Fri];
    let cal = calendar(
        1,
        week.iter().map(|d| weekly(*d, (9, 0), (17, 0))).collect(),
        vec![day_off(Holiday, date(2026, 5, 5), date(2026, 5, 7))],
        vec![],
    );
    let worked: Vec<u32> = (4..=8)
        .filter(|d| !working_intervals(&cal, date(2026, 5, *d), MADRID).is_empty())
        .collect();
    assert_eq!(worked, [4, 8]);
}

#[test]
fn custom_hours_replace_weekly_hours_and_add_up() {
    let cal = calendar(
        1,
        vec![weekly(Mon, (9, 0), (17, 0))],
        vec![
            part_off(CustomHours, date(2026, 5, 4), (16, 0), (20, 0)),
            part_off(CustomHours, date(2026, 5, 4), (10, 0), (12, 0)),
            part_off(CustomHours, date(2026, 5, 4), (11, 0), (13, 0)),
            // A Sunday the staff member does not normally work.
            part_off(CustomHours, date(2026, 5, 10), (10, 0), (14, 0)),
        ],
        vec![],
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 4), MADRID),
        [(may4(10, 0), may4(13, 0)), (may4(16, 0), may4(20, 0))]
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 10), MADRID),
        [(utc(2026, 5, 10, 8, 0), utc(2026, 5, 10, 12, 0))]
    );
    assert_eq!(working_intervals(&cal, date(2026, 5, 3), MADRID), []);
}

#[test]
fn time_off_applies_to_custom_hours_too() {
    let cal = calendar(
        1,
        vec![weekly(Mon, (9, 0), (17, 0))],
        vec![
            part_off(CustomHours, date(2026, 5, 4), (10, 0), (14, 0)),
            part_off(TimeOff, date(2026, 5, 4), (11, 0), (12, 0)),
        ],
        vec![],
    );
    assert_eq!(
        working_intervals(&cal, date(2026, 5, 4), MADRID),
        [(may4(10, 0), may4(11, 0)), (may4(12, 0), may4(14, 0))]
    );
    let holiday = calendar(
        1,
        vec![],
        vec![
            part_off(CustomHours, date(2026, 5, 4), (10, 0), (14, 0)),
            day_off(Holiday, date(2026, 5, 1), date(2026, 5, 4)),
        ],
        vec![],
    );
    assert_eq!(working_intervals(&holiday, date(2026, 5, 4), MADRID), []);
}
