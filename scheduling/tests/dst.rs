//! Days on which the clocks change: working intervals keep their real length and slots
//! step in real time, in Europe/Madrid and America/New_York.

// Fixtures fail loudly on purpose: a broken one must stop the test at once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Weekday::Sun;
use chrono_tz::America::New_York;
use common::*;
use scheduling::ExceptionKind::TimeOff;
use scheduling::{StaffCalendar, available_slots, fits, working_intervals};

/// Works Sundays 00:00–06:00 and 09:00–18:00.
fn night_and_day() -> StaffCalendar {
    calendar(
        1,
        vec![weekly(Sun, (0, 0), (6, 0)), weekly(Sun, (9, 0), (18, 0))],
        vec![],
        vec![],
    )
}

#[test]
fn madrid_spring_forward_day_is_an_hour_short() {
    let day = date(2026, 3, 29);
    let cal = night_and_day();
    assert_eq!(
        working_intervals(&cal, day, MADRID),
        [
            (utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 4, 0)),
            (utc(2026, 3, 29, 7, 0), utc(2026, 3, 29, 16, 0))
        ]
    );
    let q = query(MADRID, day, day, 60, (0, 0), 30);
    let slots = available_slots(&q, std::slice::from_ref(&cal));
    assert_eq!(slots.len(), 9 + 17);
    assert_eq!(
        local_starts_with_offset(MADRID, &slots[..9]),
        [
            "00:00+01:00",
            "00:30+01:00",
            "01:00+01:00",
            "01:30+01:00",
            "03:00+02:00",
            "03:30+02:00",
            "04:00+02:00",
            "04:30+02:00",
            "05:00+02:00"
        ]
    );
    let night: Vec<_> = slots[..9].iter().map(|s| s.start).collect();
    let expected: Vec<_> = (0..9)
        .map(|k| utc(2026, 3, 28, 23, 0) + chrono::TimeDelta::minutes(30 * k))
        .collect();
    assert_eq!(night, expected);
    // The 01:30 slot ends at 03:30 local: one real hour.
    assert_eq!(slots[3].end, utc(2026, 3, 29, 1, 30));
    assert_eq!(slots[9].start, utc(2026, 3, 29, 7, 0));
    assert_eq!(slots[25].start, utc(2026, 3, 29, 15, 0));
    assert!(fits(&q, &cal, utc(2026, 3, 29, 0, 45)));
    assert!(!fits(&q, &cal, utc(2026, 3, 29, 3, 1)));
}

#[test]
fn madrid_fall_back_day_is_an_hour_long() {
    let day = date(2026, 10, 25);
    let cal = night_and_day();
    assert_eq!(
        working_intervals(&cal, day, MADRID),
        [
            (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 5, 0)),
            (utc(2026, 10, 25, 8, 0), utc(2026, 10, 25, 17, 0))
        ]
    );
    let q = query(MADRID, day, day, 60, (0, 0), 30);
    let slots = available_slots(&q, std::slice::from_ref(&cal));
    assert_eq!(slots.len(), 13 + 17);
    assert_eq!(
        local_starts_with_offset(MADRID, &slots[..13]),
        [
            "00:00+02:00",
            "00:30+02:00",
            "01:00+02:00",
            "01:30+02:00",
            "02:00+02:00",
            "02:30+02:00",
            "02:00+01:00",
            "02:30+01:00",
            "03:00+01:00",
            "03:30+01:00",
            "04:00+01:00",
            "04:30+01:00",
            "05:00+01:00"
        ]
    );
    assert_eq!(slots[0].start, utc(2026, 10, 24, 22, 0));
    assert_eq!(slots[12].start, utc(2026, 10, 25, 4, 0));
    assert_eq!(slots[13].start, utc(2026, 10, 25, 8, 0));
    assert_eq!(slots[29].start, utc(2026, 10, 25, 16, 0));
    assert!(fits(&q, &cal, utc(2026, 10, 25, 3, 59)));
}

#[test]
fn madrid_bounds_inside_the_gap_or_the_repeated_hour() {
    let cal = calendar(1, vec![weekly(Sun, (2, 30), (5, 0))], vec![], vec![]);
    // 02:30 does not exist in spring: the shift starts when the clocks reach 03:00.
    assert_eq!(
        working_intervals(&cal, date(2026, 3, 29), MADRID),
        [(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 3, 0))]
    );
    // 02:30 happens twice in autumn: the shift starts at the first.
    assert_eq!(
        working_intervals(&cal, date(2026, 10, 25), MADRID),
        [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 4, 0))]
    );
    // A shift ending at 02:30 in autumn ends at the second.
    let early = calendar(1, vec![weekly(Sun, (1, 0), (2, 30))], vec![], vec![]);
    assert_eq!(
        working_intervals(&early, date(2026, 10, 25), MADRID),
        [(utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 1, 30))]
    );
}

#[test]
fn new_york_spring_forward() {
    let day = date(2026, 3, 8);
    let cal = night_and_day();
    assert_eq!(
        working_intervals(&cal, day, New_York),
        [
            (utc(2026, 3, 8, 5, 0), utc(2026, 3, 8, 10, 0)),
            (utc(2026, 3, 8, 13, 0), utc(2026, 3, 8, 22, 0))
        ]
    );
    let q = query(New_York, day, day, 60, (0, 0), 60);
    let slots = available_slots(&q, &[cal]);
    assert_eq!(slots.len(), 5 + 9);
    assert_eq!(
        local_starts_with_offset(New_York, &slots[..5]),
        [
            "00:00-05:00",
            "01:00-05:00",
            "03:00-04:00",
            "04:00-04:00",
            "05:00-04:00"
        ]
    );
    assert_eq!(slots[2].start, utc(2026, 3, 8, 7, 0));
}

#[test]
fn new_york_fall_back() {
    let day = date(2026, 11, 1);
    let cal = night_and_day();
    assert_eq!(
        working_intervals(&cal, day, New_York),
        [
            (utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 11, 0)),
            (utc(2026, 11, 1, 14, 0), utc(2026, 11, 1, 23, 0))
        ]
    );
    let q = query(New_York, day, day, 60, (0, 0), 60);
    let slots = available_slots(&q, &[cal]);
    assert_eq!(slots.len(), 7 + 9);
    assert_eq!(
        local_starts_with_offset(New_York, &slots[..7]),
        [
            "00:00-04:00",
            "01:00-04:00",
            "01:00-05:00",
            "02:00-05:00",
            "03:00-05:00",
            "04:00-05:00",
            "05:00-05:00"
        ]
    );
}

#[test]
fn new_york_time_off_in_the_repeated_hour_takes_both() {
    let day = date(2026, 11, 1);
    let cal = calendar(
        1,
        vec![weekly(Sun, (0, 0), (6, 0))],
        vec![part_off(TimeOff, day, (1, 0), (2, 0))],
        vec![],
    );
    // 01:00 EDT (05:00Z) up to 02:00 EST (07:00Z): both 01:00 hours are off.
    assert_eq!(
        working_intervals(&cal, day, New_York),
        [
            (utc(2026, 11, 1, 4, 0), utc(2026, 11, 1, 5, 0)),
            (utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 11, 0))
        ]
    );
}

#[test]
fn busy_time_across_the_change_blocks_real_time() {
    let day = date(2026, 3, 29);
    // Booked 01:30 CET to 03:30 CEST: one real hour.
    let cal = calendar(
        1,
        vec![weekly(Sun, (0, 0), (6, 0))],
        vec![],
        vec![busy(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30))],
    );
    let q = query(MADRID, day, day, 30, (0, 0), 30);
    assert_eq!(
        local_starts(MADRID, &available_slots(&q, &[cal])),
        [
            "00:00", "00:30", "01:00", "03:30", "04:00", "04:30", "05:00", "05:30"
        ]
    );
}
