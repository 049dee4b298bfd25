//! Planning a visit: one or more services back to back from a start time, each with a
//! staff member who is free for it (the one asked for, or the least busy qualified one).
//!
//! A staff member's block is the service time plus its buffers. When one staff member does
//! consecutive services of a visit, the buffers between them are dropped: they go straight
//! on to the next service.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use scheduling::{Busy, SlotQuery, SlotQueryParams, StaffCalendar, fits};
use uuid::Uuid;

use super::{
    CancellationPolicy,
    calendars::{SalonRules, busy_minutes_on_day, load_calendars},
};
use crate::{
    db::TenantTx,
    error::{ApiError, ApiResult},
    http::catalogue::{Deposit, ServiceRow, load_service},
};

/// One requested service; `staff` is `None` for "anyone".
#[derive(Debug, Clone)]
pub struct ItemRequest {
    pub service_id: Uuid,
    pub staff: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct PlannedItem {
    pub service_id: Uuid,
    pub staff_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub block_start: DateTime<Utc>,
    pub block_end: DateTime<Utc>,
    pub price_cents: i64,
    pub deposit_cents: i64,
    pub policy: CancellationPolicy,
}

pub const MAX_ITEMS: usize = 6;

fn minutes(m: i32) -> Duration {
    Duration::minutes(i64::from(m))
}

fn unavailable(i: usize) -> ApiError {
    ApiError::Conflict {
        code: "slot_unavailable",
        message: "no qualified staff member is free at that time".into(),
        field: Some(if i == 0 { "starts_at" } else { "items" }),
    }
}

/// Checks the request against the catalogue, the salon's rules and every calendar, and
/// returns the items to write. `except_booking` is a booking being rescheduled.
pub async fn plan(
    tx: &mut TenantTx,
    rules: &SalonRules,
    items: &[ItemRequest],
    starts_at: DateTime<Utc>,
    except_booking: Option<Uuid>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<PlannedItem>> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            "invalid_count",
            "book 1 to 6 services",
        ));
    }
    if starts_at < now + rules.min_notice {
        return Err(ApiError::invalid(
            "starts_at",
            "too_soon",
            "is sooner than the salon's minimum notice",
        ));
    }
    if starts_at > now + rules.max_horizon {
        return Err(ApiError::invalid(
            "starts_at",
            "too_far",
            "is further ahead than the salon takes bookings",
        ));
    }
    let mut services: Vec<ServiceRow> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let service = load_service(tx, item.service_id)
            .await?
            .filter(|s| s.active)
            .ok_or_else(|| {
                ApiError::invalid(
                    &format!("items[{i}].service_id"),
                    "unknown_service",
                    "no such service",
                )
            })?;
        if service.currency != rules.currency {
            return Err(ApiError::invalid(
                &format!("items[{i}].service_id"),
                "currency_mismatch",
                "services in other currencies cannot be booked together",
            ));
        }
        if let Some(staff) = item.staff
            && !service.staff_ids.contains(&staff)
        {
            return Err(ApiError::invalid(
                &format!("items[{i}].staff_id"),
                "staff_cannot_perform",
                "this staff member does not perform the service",
            ));
        }
        services.push(service);
    }

    // Times first: back to back from the start.
    let mut times = Vec::with_capacity(items.len());
    let mut t = starts_at;
    for s in &services {
        let end = t + minutes(s.duration_minutes);
        times.push((t, end));
        t = end;
    }
    let mut candidates: Vec<Uuid> = items
        .iter()
        .zip(&services)
        .flat_map(|(item, s)| {
            item.staff
                .map_or_else(|| s.staff_ids.clone(), |id| vec![id])
        })
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let first_day = starts_at.with_timezone(&rules.tz).date_naive();
    let last_day = t.with_timezone(&rules.tz).date_naive();
    let calendars: HashMap<Uuid, StaffCalendar> = load_calendars(
        tx,
        &candidates,
        first_day,
        last_day,
        rules.tz,
        except_booking,
    )
    .await?
    .into_iter()
    .map(|c| (c.staff_id(), c))
    .collect();

    let mut planned: Vec<PlannedItem> = Vec::with_capacity(items.len());
    for (i, ((item, service), (start, end))) in items.iter().zip(&services).zip(times).enumerate() {
        let previous = planned.last().map(|p| p.staff_id);
        let mut options: Vec<Uuid> = item
            .staff
            .map_or_else(|| service.staff_ids.clone(), |id| vec![id]);
        // Prefer whoever did the previous service (no change-over), then the least busy.
        options.sort_by_key(|id| {
            let busy = calendars
                .get(id)
                .map_or(i64::MAX, |c| busy_minutes_on_day(c, start, rules.tz));
            (Some(*id) != previous, busy, *id)
        });
        let chosen = options.into_iter().find_map(|staff| {
            let calendar = calendars.get(&staff)?;
            let continues = Some(staff) == previous;
            let before = if continues {
                Duration::zero()
            } else {
                minutes(service.buffer_before_minutes)
            };
            let query = SlotQuery::new(SlotQueryParams {
                tz: rules.tz,
                from: start.with_timezone(&rules.tz).date_naive(),
                to: start.with_timezone(&rules.tz).date_naive(),
                duration: end - start,
                buffer_before: before,
                buffer_after: minutes(service.buffer_after_minutes),
                grid: end - start,
                not_before: start,
                not_after: start,
            })
            .ok()?;
            // The visit's own earlier blocks hold time too; a continuing staff member's
            // previous block ends when its service does.
            let mut busy: Vec<Busy> = calendar.busy().to_vec();
            let last = planned.len().checked_sub(1);
            for (j, p) in planned
                .iter()
                .enumerate()
                .filter(|(_, p)| p.staff_id == staff)
            {
                let block_end = if continues && Some(j) == last {
                    p.ends_at
                } else {
                    p.block_end
                };
                busy.extend(Busy::new(p.block_start, block_end).ok());
            }
            let with_visit = StaffCalendar::new(
                staff,
                calendar.weekly().to_vec(),
                calendar.exceptions().to_vec(),
                busy,
            );
            fits(&query, &with_visit, start).then_some((staff, start - before, continues))
        });
        let Some((staff_id, block_start, continues)) = chosen else {
            return Err(unavailable(i));
        };
        if continues && let Some(last) = planned.last_mut() {
            last.block_end = last.ends_at;
        }
        let deposit: Deposit = service.deposit();
        planned.push(PlannedItem {
            service_id: service.id,
            staff_id,
            starts_at: start,
            ends_at: end,
            block_start,
            block_end: end + minutes(service.buffer_after_minutes),
            price_cents: service.price_cents,
            deposit_cents: deposit.amount(service.price_cents),
            policy: service.cancellation_policy.0.clone(),
        });
    }
    Ok(planned)
}
