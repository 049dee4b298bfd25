//! Loading what availability needs from the tenant's schema: the salon's booking rules and
//! each staff member's weekly hours, exceptions and busy blocks.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use scheduling::{Busy, Exception, ExceptionKind, StaffCalendar, TimeRange, WeeklyHours};
use uuid::Uuid;

use crate::{
    db::TenantTx,
    error::{ApiError, ApiResult},
};

/// The salon's booking rules, from `salon_settings`.
#[derive(Debug, Clone)]
pub struct SalonRules {
    pub tz: Tz,
    pub currency: String,
    pub slot_interval_minutes: Option<i32>,
    pub min_notice: Duration,
    pub max_horizon: Duration,
    pub payment_timeout: Duration,
}

#[derive(sqlx::FromRow)]
struct RulesRow {
    time_zone: String,
    currency: String,
    slot_interval_minutes: Option<i32>,
    min_notice_minutes: i32,
    max_horizon_days: i32,
    payment_timeout_minutes: i32,
}

pub async fn load_rules(tx: &mut TenantTx) -> ApiResult<SalonRules> {
    let row = tx
        .query_as::<RulesRow>(
            "SELECT time_zone, currency, slot_interval_minutes, min_notice_minutes,
                    max_horizon_days, payment_timeout_minutes FROM salon_settings",
        )
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("salon profile"))?;
    let tz = row.time_zone.parse::<Tz>().map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "salon time zone {} is invalid",
            row.time_zone
        ))
    })?;
    Ok(SalonRules {
        tz,
        currency: row.currency,
        slot_interval_minutes: row.slot_interval_minutes,
        min_notice: Duration::minutes(i64::from(row.min_notice_minutes)),
        max_horizon: Duration::days(i64::from(row.max_horizon_days)),
        payment_timeout: Duration::minutes(i64::from(row.payment_timeout_minutes)),
    })
}

/// The UTC instant local midnight of `date` maps to (the first instant of that day).
pub fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        // Midnight itself skipped by a DST jump: the day starts at the first real instant.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + Duration::hours(1)))
            .earliest()
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

fn weekday(iso: i16) -> Option<Weekday> {
    Some(match iso {
        1 => Weekday::Mon,
        2 => Weekday::Tue,
        3 => Weekday::Wed,
        4 => Weekday::Thu,
        5 => Weekday::Fri,
        6 => Weekday::Sat,
        7 => Weekday::Sun,
        _ => return None,
    })
}

#[derive(sqlx::FromRow)]
struct HoursRow {
    staff_id: Uuid,
    weekday: i16,
    start_time: NaiveTime,
    end_time: NaiveTime,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

#[derive(sqlx::FromRow)]
struct ExceptionRow {
    staff_id: Option<Uuid>,
    kind: String,
    date_from: NaiveDate,
    date_to: NaiveDate,
    start_time: Option<NaiveTime>,
    end_time: Option<NaiveTime>,
}

#[derive(sqlx::FromRow)]
struct BusyRow {
    staff_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn corrupt(what: &str, err: scheduling::Error) -> ApiError {
    ApiError::internal(anyhow::anyhow!("stored {what} is invalid: {err:?}"))
}

/// Calendars of `staff` for local dates `from..=to`. Busy blocks of `except_booking` are
/// left out (a booking being rescheduled does not collide with itself), and so are
/// bookings whose payment window has passed (they are expiring, not holding time).
pub async fn load_calendars(
    tx: &mut TenantTx,
    staff: &[Uuid],
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    except_booking: Option<Uuid>,
) -> ApiResult<Vec<StaffCalendar>> {
    let hours = tx
        .query_as::<HoursRow>(
            "SELECT staff_id, weekday, start_time, end_time, valid_from, valid_until
             FROM staff_weekly_hours WHERE staff_id = ANY($1)",
        )
        .bind(staff)
        .fetch_all(tx.conn())
        .await?;
    let exceptions = tx
        .query_as::<ExceptionRow>(
            "SELECT staff_id, kind, date_from, date_to, start_time, end_time FROM schedule_exceptions
             WHERE (staff_id = ANY($1) OR staff_id IS NULL) AND date_from <= $3 AND date_to >= $2",
        )
        .bind(staff)
        .bind(from)
        .bind(to)
        .fetch_all(tx.conn())
        .await?;
    // A day of margin on each side covers blocks whose buffers reach across midnight.
    let window_start = day_start(tz, from) - Duration::days(1);
    let window_end = day_start(tz, to) + Duration::days(2);
    let busy = tx
        .query_as::<BusyRow>(
            "SELECT i.staff_id, lower(i.block) AS start, upper(i.block) AS \"end\"
             FROM booking_items i JOIN bookings b ON b.id = i.booking_id
             WHERE i.live AND i.staff_id = ANY($1) AND i.block && tstzrange($2, $3)
               AND NOT (b.status = 'pending_payment' AND b.payment_due_at < now())
               AND ($4::uuid IS NULL OR i.booking_id <> $4)",
        )
        .bind(staff)
        .bind(window_start)
        .bind(window_end)
        .bind(except_booking)
        .fetch_all(tx.conn())
        .await?;

    let mut weekly: HashMap<Uuid, Vec<WeeklyHours>> = HashMap::new();
    for h in hours {
        let day = weekday(h.weekday).ok_or_else(|| corrupt_row("weekday"))?;
        let range = TimeRange::new(h.start_time, h.end_time).map_err(|e| corrupt("hours", e))?;
        let w = WeeklyHours::between(day, range, h.valid_from, h.valid_until)
            .map_err(|e| corrupt("hours", e))?;
        weekly.entry(h.staff_id).or_default().push(w);
    }
    let mut salon_wide = Vec::new();
    let mut personal: HashMap<Uuid, Vec<Exception>> = HashMap::new();
    for e in exceptions {
        let kind = match e.kind.as_str() {
            "time_off" => ExceptionKind::TimeOff,
            "holiday" => ExceptionKind::Holiday,
            _ => ExceptionKind::CustomHours,
        };
        let range = match (e.start_time, e.end_time) {
            (Some(s), Some(t)) => {
                Some(TimeRange::new(s, t).map_err(|err| corrupt("exception", err))?)
            }
            _ => None,
        };
        let exception = Exception::new(kind, e.date_from, e.date_to, range)
            .map_err(|err| corrupt("exception", err))?;
        match e.staff_id {
            Some(id) => personal.entry(id).or_default().push(exception),
            None => salon_wide.push(exception),
        }
    }
    let mut blocks: HashMap<Uuid, Vec<Busy>> = HashMap::new();
    for b in busy {
        blocks
            .entry(b.staff_id)
            .or_default()
            .push(Busy::new(b.start, b.end).map_err(|e| corrupt("booking", e))?);
    }
    Ok(staff
        .iter()
        .map(|id| {
            let mut exceptions = salon_wide.clone();
            exceptions.extend(personal.remove(id).unwrap_or_default());
            StaffCalendar::new(
                *id,
                weekly.remove(id).unwrap_or_default(),
                exceptions,
                blocks.remove(id).unwrap_or_default(),
            )
        })
        .collect())
}

fn corrupt_row(what: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!("stored {what} is invalid"))
}

/// Minutes `calendar` is already booked on the local day that contains `at`.
pub fn busy_minutes_on_day(calendar: &StaffCalendar, at: DateTime<Utc>, tz: Tz) -> i64 {
    let date = at.with_timezone(&tz).date_naive();
    let (start, end) = (day_start(tz, date), day_start(tz, date + Duration::days(1)));
    calendar
        .busy()
        .iter()
        .map(|b| {
            (b.end().min(end) - b.start().max(start))
                .num_minutes()
                .max(0)
        })
        .sum()
}
