//! `available_slots` and `fits` on hand-made calendars with known answers.

// Fixtures fail loudly on purpose: a broken one must stop the test at once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::TimeDelta;
use chrono::Weekday::{Mon, Sat, Tue};
use common::*;
use scheduling::ExceptionKind::TimeOff;
use scheduling::{Slot, available_slots, fits};

#[test]
fn plain_day() {
    let cal = calendar(7, vec![weekly(Mon, (9, 0), (13, 0))], vec![], vec![]);
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 4), 60, (0, 0), 30);
    let slots = available_slots(&q, &[cal]);
    assert_eq!(
        local_starts(MADRID, &slots),
        [
            "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00"
        ]
    );
    assert_eq!(
        slots[0],
        Slot {
            start: utc(2026, 5, 4, 7, 0),
            end: utc(2026, 5, 4, 8, 0),
            staff: vec![id(7)]
        }
    );
    assert!(
        slots
            .iter()
            .all(|s| s.end - s.start == TimeDelta::minutes(60))
    );
}

#[test]
fn split_shifts_each_start_their_own_grid() {
    let cal = calendar(
        1,
        vec![
            weekly(Mon, (9, 0), (10, 0)),
            weekly(Mon, (10, 10), (11, 10)),
        ],
        vec![],
        vec![],
    );
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 4), 30, (0, 0), 20);
    assert_eq!(
        local_starts(MADRID, &available_slots(&q, &[cal])),
        ["09:00", "09:20", "10:10", "10:30"]
    );
}

#[test]
fn grid_steps_from_the_block_start_and_the_block_must_fit() {
    let cal = calendar(1, vec![weekly(Mon, (9, 0), (11, 0))], vec![], vec![]);
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 4), 30, (0, 0), 25);
    assert_eq!(
        local_starts(MADRID, &available_slots(&q, std::slice::from_ref(&cal))),
        ["09:00", "09:25", "09:50", "10:15"]
    );
    // The grid starts after the buffer before, so the first block starts at 09:00; the
    // last block, 10:15–11:00, ends with the shift.
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 4), 30, (10, 5), 25);
    assert_eq!(
        local_starts(MADRID, &available_slots(&q, &[cal])),
        ["09:10", "09:35", "10:00", "10:25"]
    );
}

#[test]
fn days_off_and_weekly_pattern_over_several_days() {
    let cal = calendar(
        1,
        [Mon, Tue, Sat]
            .into_iter()
            .map(|d| weekly(d, (10, 0), (12, 0)))
            .collect(),
        vec![day_off(TimeOff, date(2026, 5, 5), date(2026, 5, 5))],
        vec![],
    );
    let q = query(MADRID, date(2026, 5, 3), date(2026, 5, 11), 60, (0, 0), 60);
    let slots = available_slots(&q, &[cal]);
    let starts: Vec<_> = slots.iter().map(|s| s.start).collect();
    assert_eq!(
        starts,
        [
            utc(2026, 5, 4, 8, 0),
            utc(2026, 5, 4, 9, 0),
            utc(2026, 5, 9, 8, 0),
            utc(2026, 5, 9, 9, 0),
            utc(2026, 5, 11, 8, 0),
            utc(2026, 5, 11, 9, 0),
        ]
    );
}

#[test]
fn buffers_decide_whether_a_slot_next_to_a_booking_is_offered() {
    let hours = vec![weekly(Mon, (9, 0), (13, 0))];
    let booked = vec![busy(may4(10, 0), may4(11, 0))];
    let cal = calendar(1, hours.clone(), vec![], booked);
    let day = date(2026, 5, 4);

    let bare = query(MADRID, day, day, 60, (0, 0), 15);
    assert_eq!(
        local_starts(MADRID, &available_slots(&bare, std::slice::from_ref(&cal))),
        ["09:00", "11:00", "11:15", "11:30", "11:45", "12:00"]
    );
    // 10 minutes before and 5 after: 09:00 would end its block at 10:05, and no start
    // before 11:10 leaves the 10 minutes after the booking.
    let buffered = query(MADRID, day, day, 60, (10, 5), 15);
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&buffered, std::slice::from_ref(&cal))
        ),
        ["11:10", "11:25", "11:40", "11:55"]
    );
    assert!(!fits(&buffered, &cal, may4(9, 0)));
    assert!(!fits(&buffered, &cal, may4(11, 9)));
    assert!(fits(&buffered, &cal, may4(11, 10)));
}

#[test]
fn touching_blocks_are_fine_overlapping_ones_are_not() {
    let day = date(2026, 5, 4);
    let with = |from: (u32, u32), to: (u32, u32)| {
        calendar(
            1,
            vec![weekly(Mon, (9, 0), (13, 0))],
            vec![],
            vec![busy(may4(from.0, from.1), may4(to.0, to.1))],
        )
    };
    // The 09:10 block is 09:00–10:15; the 11:10 block starts at 11:00.
    let q = query(MADRID, day, day, 60, (10, 5), 15);
    let touching = with((10, 15), (11, 0));
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&q, std::slice::from_ref(&touching))
        ),
        ["09:10", "11:10", "11:25", "11:40", "11:55"]
    );
    // One more minute of buffer after and 09:10 overlaps the booking.
    let q_longer = query(MADRID, day, day, 60, (10, 6), 15);
    assert_eq!(
        local_starts(MADRID, &available_slots(&q_longer, &[touching])),
        ["11:10", "11:25", "11:40"]
    );
    // A booking from 10:14 overlaps the 09:10 block by one minute.
    let overlapping = with((10, 14), (11, 0));
    assert_eq!(
        local_starts(MADRID, &available_slots(&q, &[overlapping])),
        ["11:10", "11:25", "11:40", "11:55"]
    );
    // Blocks end exactly at the end of the working interval: 11:55 + 65 min = 13:00.
    let free = with((20, 0), (21, 0));
    assert_eq!(
        available_slots(&q, &[free]).last().map(|s| s.start),
        Some(may4(11, 55))
    );
}

#[test]
fn window_bounds_are_inclusive() {
    let cal = calendar(1, vec![weekly(Mon, (9, 0), (13, 0))], vec![], vec![]);
    let day = date(2026, 5, 4);
    let q = query(MADRID, day, day, 60, (0, 0), 30);
    let cals = std::slice::from_ref(&cal);
    let far = utc(2030, 1, 1, 0, 0);
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&within(&q, may4(10, 0), far), cals)
        ),
        ["10:00", "10:30", "11:00", "11:30", "12:00"]
    );
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&within(&q, may4(10, 1), far), cals)
        ),
        ["10:30", "11:00", "11:30", "12:00"]
    );
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&within(&q, may4(10, 0), may4(11, 0)), cals)
        ),
        ["10:00", "10:30", "11:00"]
    );
    assert_eq!(
        local_starts(
            MADRID,
            &available_slots(&within(&q, may4(10, 1), may4(10, 29)), cals)
        ),
        Vec::<String>::new()
    );
    assert!(!fits(&within(&q, may4(10, 1), far), &cal, may4(10, 0)));
    assert!(fits(&within(&q, may4(10, 0), far), &cal, may4(10, 0)));
    assert!(!fits(
        &within(&q, may4(9, 0), may4(10, 59)),
        &cal,
        may4(11, 0)
    ));
}

#[test]
fn window_across_days() {
    let cal = calendar(
        1,
        [Mon, Tue]
            .into_iter()
            .map(|d| weekly(d, (9, 0), (11, 0)))
            .collect(),
        vec![],
        vec![],
    );
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 5), 60, (0, 0), 60);
    let q = within(&q, may4(12, 0), local(MADRID, 2026, 5, 5, 9, 59));
    let slots = available_slots(&q, &[cal]);
    assert_eq!(
        slots.iter().map(|s| s.start).collect::<Vec<_>>(),
        [utc(2026, 5, 5, 7, 0)]
    );
}

#[test]
fn staff_merge_by_start_least_busy_first() {
    let h = || vec![weekly(Mon, (9, 0), (13, 0))];
    let staff = [
        // 60 busy minutes today, one of them blocks 12:00.
        calendar(1, h(), vec![], vec![busy(may4(12, 0), may4(13, 0))]),
        // 30 busy minutes today, blocking 09:00.
        calendar(2, h(), vec![], vec![busy(may4(9, 0), may4(9, 30))]),
        // Free today; yesterday's booking does not count.
        calendar(
            3,
            h(),
            vec![],
            vec![busy(utc(2026, 5, 3, 8, 0), utc(2026, 5, 3, 16, 0))],
        ),
        // Free, ties with 3 and loses on id.
        calendar(4, h(), vec![], vec![]),
        // Other hours add starts of their own.
        calendar(5, vec![weekly(Mon, (9, 30), (11, 30))], vec![], vec![]),
        // Busy after hours still counts: 90 minutes today.
        calendar(6, h(), vec![], vec![busy(may4(19, 0), may4(20, 30))]),
    ];
    let day = date(2026, 5, 4);
    let q = query(MADRID, day, day, 60, (0, 0), 60);
    let slots = available_slots(&q, &staff);
    let got: Vec<(String, Vec<u128>)> = slots
        .iter()
        .map(|s| {
            let hm = s.start.with_timezone(&MADRID).format("%H:%M").to_string();
            (hm, s.staff.iter().map(|u| u.as_u128()).collect())
        })
        .collect();
    let want: Vec<(String, Vec<u128>)> = [
        ("09:00", vec![3, 4, 1, 6]),
        ("09:30", vec![5]),
        ("10:00", vec![3, 4, 2, 1, 6]),
        ("10:30", vec![5]),
        ("11:00", vec![3, 4, 2, 1, 6]),
        ("12:00", vec![3, 4, 2, 6]),
    ]
    .into_iter()
    .map(|(t, v)| (t.to_owned(), v))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn least_busy_is_judged_per_local_date() {
    let h = || vec![weekly(Mon, (9, 0), (10, 0)), weekly(Tue, (9, 0), (10, 0))];
    let tue = |hh| local(MADRID, 2026, 5, 5, hh, 0);
    let staff = [
        calendar(1, h(), vec![], vec![busy(may4(15, 0), may4(18, 0))]),
        calendar(2, h(), vec![], vec![busy(tue(15), tue(17))]),
    ];
    let q = query(MADRID, date(2026, 5, 4), date(2026, 5, 5), 60, (0, 0), 60);
    let order: Vec<Vec<u128>> = available_slots(&q, &staff)
        .iter()
        .map(|s| s.staff.iter().map(|u| u.as_u128()).collect())
        .collect();
    assert_eq!(order, [vec![2, 1], vec![1, 2]]);
}

#[test]
fn fits_takes_off_grid_starts_and_checks_the_dates() {
    let cal = calendar(
        1,
        vec![weekly(Mon, (9, 0), (13, 0))],
        vec![],
        vec![busy(may4(11, 0), may4(11, 30))],
    );
    let day = date(2026, 5, 4);
    let q = query(MADRID, day, day, 60, (10, 5), 15);
    assert!(fits(&q, &cal, may4(9, 10)));
    assert!(fits(&q, &cal, may4(9, 17)));
    assert!(fits(&q, &cal, may4(9, 55)));
    assert!(!fits(&q, &cal, may4(9, 56)));
    assert!(!fits(&q, &cal, may4(9, 9)));
    assert!(fits(&q, &cal, may4(11, 40)));
    assert!(fits(&q, &cal, may4(11, 55)));
    assert!(!fits(&q, &cal, may4(11, 56)));
    // The next Monday has the same hours but lies outside the query's dates.
    let next = query(MADRID, date(2026, 5, 5), date(2026, 5, 10), 60, (10, 5), 15);
    assert!(!fits(&next, &cal, may4(9, 10)));
    assert!(!fits(&next, &cal, local(MADRID, 2026, 5, 11, 9, 10)));
}

#[test]
fn no_staff_or_no_hours_means_no_slots() {
    let day = date(2026, 5, 4);
    let q = query(MADRID, day, day, 60, (0, 0), 15);
    assert_eq!(available_slots(&q, &[]), []);
    let idle = calendar(1, vec![weekly(Tue, (9, 0), (13, 0))], vec![], vec![]);
    assert_eq!(available_slots(&q, &[idle]), []);
    // A service longer than the shift.
    let short = calendar(1, vec![weekly(Mon, (9, 0), (9, 45))], vec![], vec![]);
    assert_eq!(available_slots(&q, &[short]), []);
}
