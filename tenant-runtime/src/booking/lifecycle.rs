//! Writing bookings: creation from a plan, and every later transition (confirm, cancel
//! with the refund the policy gives, reschedule, no-show, complete). Each transition is
//! checked against the state machine, recorded in the history and emitted as an event.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    BookingStatus,
    calendars::SalonRules,
    number,
    payments::{self, RefundReason},
    plan::{ItemRequest, PlannedItem, plan},
    policy::percent_of,
    store::{self, Actor, Booking},
};
use crate::{
    db::TenantTx,
    error::{ApiError, ApiResult},
    http::db_errors::{EXCLUSION_VIOLATION, sqlstate},
};

fn slot_taken(err: sqlx::Error) -> ApiError {
    if sqlstate(&err).as_deref() == Some(EXCLUSION_VIOLATION) {
        ApiError::Conflict {
            code: "slot_taken",
            message: "that time was just booked by someone else".into(),
            field: Some("starts_at"),
        }
    } else {
        ApiError::from(err)
    }
}

/// A stretch of time, from its start to its end.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// The staff members a visit needs and the whole time it holds them.
fn window(items: &[PlannedItem]) -> (Vec<Uuid>, Option<Span>) {
    let staff = items.iter().map(|i| i.staff_id).collect();
    let start = items.iter().map(|i| i.block_start).min();
    let end = items.iter().map(|i| i.block_end).max();
    (staff, start.zip(end))
}

async fn insert_items(tx: &mut TenantTx, booking: Uuid, items: &[PlannedItem]) -> ApiResult<()> {
    for (position, item) in items.iter().enumerate() {
        tx.query(
            "INSERT INTO booking_items (id, booking_id, position, service_id, staff_id, starts_at,
                 ends_at, block, price_cents, deposit_cents)
             VALUES ($1, $2, $3, $4, $5, $6, $7, tstzrange($8, $9), $10, $11)",
        )
        .bind(Uuid::now_v7())
        .bind(booking)
        .bind(i16::try_from(position).unwrap_or(i16::MAX))
        .bind(item.service_id)
        .bind(item.staff_id)
        .bind(item.starts_at)
        .bind(item.ends_at)
        .bind(item.block_start)
        .bind(item.block_end)
        .bind(item.price_cents)
        .bind(item.deposit_cents)
        .execute(tx.conn())
        .await
        .map_err(slot_taken)?;
    }
    Ok(())
}

/// How a new booking's deposit is paid.
#[derive(Debug, Clone, Copy)]
pub enum DepositPayment<'a> {
    /// Online through Stripe, with the customer's PaymentMethod when they gave one.
    Online { payment_method: Option<&'a str> },
    /// At the front desk, which confirms the booking when it is paid.
    AtTheDesk,
}

/// Creates a booking: `pending_payment` when a deposit is due, `confirmed` otherwise.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    tx: &mut TenantTx,
    rules: &SalonRules,
    items: &[PlannedItem],
    customer: Uuid,
    notes: Option<&str>,
    deposit_payment: DepositPayment<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Booking> {
    within_monthly_bookings(tx, now).await?;
    let (staff, span) = window(items);
    store::expire_overdue(tx, None, &staff, span).await?;
    let total: i64 = items.iter().map(|i| i.price_cents).sum();
    let deposit: i64 = items.iter().map(|i| i.deposit_cents).sum();
    let status = if deposit > 0 {
        BookingStatus::PendingPayment
    } else {
        BookingStatus::Confirmed
    };
    let due = (status == BookingStatus::PendingPayment).then(|| now + rules.payment_timeout);
    let (starts_at, ends_at) = match (items.first(), items.last()) {
        (Some(first), Some(last)) => (first.starts_at, last.ends_at),
        _ => {
            return Err(ApiError::invalid(
                "items",
                "invalid_count",
                "book 1 to 6 services",
            ));
        }
    };
    let id = Uuid::now_v7();
    let mut inserted = false;
    // A fresh number collides about once in a billion bookings: try a few.
    for _ in 0..5 {
        let done = tx
            .query(
                "INSERT INTO bookings (id, number, customer_id, status, starts_at, ends_at,
                     total_cents, deposit_cents, currency, notes, payment_due_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (number) DO NOTHING",
            )
            .bind(id)
            .bind(number::generate())
            .bind(customer)
            .bind(status.as_str())
            .bind(starts_at)
            .bind(ends_at)
            .bind(total)
            .bind(deposit)
            .bind(&rules.currency)
            .bind(notes)
            .bind(due)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 1 {
            inserted = true;
            break;
        }
    }
    if !inserted {
        return Err(ApiError::internal(anyhow::anyhow!(
            "no free booking number after 5 tries"
        )));
    }
    insert_items(tx, id, items).await?;
    if let (true, DepositPayment::Online { payment_method }) = (deposit > 0, deposit_payment) {
        payments::open_deposit(tx, id, deposit, &rules.currency, payment_method).await?;
    }
    store::record(tx, id, None, BookingStatus::Draft, actor, None, json!({})).await?;
    let details = json!({ "total_cents": total, "deposit_cents": deposit, "payment_due_at": due });
    store::record(
        tx,
        id,
        Some(BookingStatus::Draft),
        status,
        actor,
        None,
        details,
    )
    .await?;
    store::load(tx, id).await
}

/// Refuses a new booking when the salon has taken its plan's bookings for this month
/// (UTC calendar month; bookings that expired unpaid do not count). Concurrent requests
/// at the very edge may pass together: the limit is a plan allowance, not a hard quota.
async fn within_monthly_bookings(tx: &mut TenantTx, now: DateTime<Utc>) -> ApiResult<()> {
    let Some(max) = tx.route.limits.max_bookings_per_month else {
        return Ok(());
    };
    let taken: i64 = tx
        .query_scalar(
            "SELECT count(*) FROM bookings
             WHERE created_at >= date_trunc('month', $1 AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
               AND status <> 'expired'",
        )
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
    if taken >= i64::from(max) {
        return Err(ApiError::PlanLimit {
            limit: "max_bookings_per_month",
            what: "bookings a month",
            plan: tx.route.limits.plan.clone(),
            allowed: i64::from(max),
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Locked {
    status: String,
    starts_at: DateTime<Utc>,
}

/// Locks a booking for a transition and checks the state machine allows `to`.
async fn lock(
    tx: &mut TenantTx,
    id: Uuid,
    to: BookingStatus,
) -> ApiResult<(BookingStatus, DateTime<Utc>)> {
    store::expire_overdue(tx, Some(id), &[], None).await?;
    let row = tx
        .query_as::<Locked>("SELECT status, starts_at FROM bookings WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("booking"))?;
    let from: BookingStatus = row.status.parse().map_err(|()| {
        ApiError::internal(anyhow::anyhow!("unknown booking status {}", row.status))
    })?;
    if !from.can_become(to) {
        return Err(ApiError::Conflict {
            code: "illegal_transition",
            message: format!("the booking is {from} and cannot become {to}"),
            field: None,
        });
    }
    Ok((from, row.starts_at))
}

pub(crate) async fn set_status(
    tx: &mut TenantTx,
    id: Uuid,
    to: BookingStatus,
    refund: Option<(i32, i64)>,
) -> ApiResult<()> {
    tx.query(
        "UPDATE bookings SET status = $2, updated_at = now(), payment_due_at = NULL,
             refund_percent = COALESCE($3, refund_percent), refund_cents = COALESCE($4, refund_cents)
         WHERE id = $1",
    )
    .bind(id)
    .bind(to.as_str())
    .bind(refund.map(|r| r.0))
    .bind(refund.map(|r| r.1))
    .execute(tx.conn())
    .await?;
    if !to.is_live() {
        tx.query("UPDATE booking_items SET live = false WHERE booking_id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// A pending booking's deposit arrived (or the front desk took it): confirmed.
pub async fn confirm(tx: &mut TenantTx, id: Uuid, actor: &Actor) -> ApiResult<Booking> {
    let (from, _) = lock(tx, id, BookingStatus::Confirmed).await?;
    set_status(tx, id, BookingStatus::Confirmed, None).await?;
    // Paid at the desk: an online payment still open is no longer wanted.
    payments::cancel_unpaid(tx, &[id]).await?;
    store::record(
        tx,
        id,
        Some(from),
        BookingStatus::Confirmed,
        actor,
        None,
        json!({}),
    )
    .await?;
    store::load(tx, id).await
}

#[derive(sqlx::FromRow)]
struct ItemPolicy {
    deposit_cents: i64,
    cancellation_policy: sqlx::types::Json<super::CancellationPolicy>,
}

/// The refund each item's policy gives, summed: (percent of the deposit, cents).
async fn policy_refund(
    tx: &mut TenantTx,
    id: Uuid,
    percent_for: impl Fn(&super::CancellationPolicy) -> u8,
) -> ApiResult<(i32, i64)> {
    let items = tx
        .query_as::<ItemPolicy>(
            "SELECT i.deposit_cents, s.cancellation_policy FROM booking_items i
             JOIN services s ON s.id = i.service_id WHERE i.booking_id = $1",
        )
        .bind(id)
        .fetch_all(tx.conn())
        .await?;
    let deposit: i64 = items.iter().map(|i| i.deposit_cents).sum();
    let refund: i64 = items
        .iter()
        .map(|i| percent_of(i.deposit_cents, percent_for(&i.cancellation_policy.0)))
        .sum();
    let percent = if deposit == 0 {
        0
    } else {
        i32::try_from(refund * 100 / deposit).unwrap_or(0)
    };
    Ok((percent, refund))
}

/// A manager's decision to refund something other than the policy's amount.
#[derive(Debug, Clone, Copy)]
pub struct RefundOverride {
    pub percent: u8,
}

/// Cancels a booking. The deposit paid comes back as the cancellation policy says for the
/// time left (nothing was paid while pending); a manager may override, and that is recorded.
pub async fn cancel(
    tx: &mut TenantTx,
    id: Uuid,
    actor: &Actor,
    reason: Option<&str>,
    manager_override: Option<RefundOverride>,
    now: DateTime<Utc>,
) -> ApiResult<Booking> {
    let (from, starts_at) = lock(tx, id, BookingStatus::Cancelled).await?;
    let minutes_left = (starts_at - now).num_minutes();
    let (computed_percent, computed_cents) = if from == BookingStatus::PendingPayment {
        (0, 0)
    } else {
        policy_refund(tx, id, |p| p.refund_percent(minutes_left)).await?
    };
    let paid: i64 = if from == BookingStatus::PendingPayment {
        0
    } else {
        tx.query_scalar("SELECT deposit_cents FROM bookings WHERE id = $1")
            .bind(id)
            .fetch_one(tx.conn())
            .await?
    };
    let (percent, cents) = match manager_override {
        Some(o) => (i32::from(o.percent), percent_of(paid, o.percent)),
        None => (computed_percent, computed_cents),
    };
    set_status(tx, id, BookingStatus::Cancelled, Some((percent, cents))).await?;
    let online_refund = if from == BookingStatus::PendingPayment {
        payments::cancel_unpaid(tx, &[id]).await?;
        0
    } else {
        payments::refund_deposit(tx, id, cents, RefundReason::Cancellation).await?
    };
    let details = json!({
        "online_refund_cents": online_refund,
        "minutes_before_start": minutes_left,
        "refund_percent": percent,
        "refund_cents": cents,
        "policy_refund_percent": computed_percent,
        "policy_refund_cents": computed_cents,
        "overridden": manager_override.is_some(),
    });
    store::record(
        tx,
        id,
        Some(from),
        BookingStatus::Cancelled,
        actor,
        reason,
        details,
    )
    .await?;
    store::load(tx, id).await
}

/// The customer did not come: the no-show rule decides what of the deposit comes back.
pub async fn no_show(
    tx: &mut TenantTx,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Booking> {
    let (from, starts_at) = lock(tx, id, BookingStatus::NoShow).await?;
    if starts_at > now {
        return Err(ApiError::Conflict {
            code: "not_started",
            message: "the booking has not started yet".into(),
            field: None,
        });
    }
    let refund = policy_refund(tx, id, |p| p.no_show_refund_percent).await?;
    set_status(tx, id, BookingStatus::NoShow, Some(refund)).await?;
    let online_refund = payments::refund_deposit(tx, id, refund.1, RefundReason::NoShow).await?;
    let details = json!({
        "refund_percent": refund.0, "refund_cents": refund.1, "online_refund_cents": online_refund,
    });
    store::record(
        tx,
        id,
        Some(from),
        BookingStatus::NoShow,
        actor,
        None,
        details,
    )
    .await?;
    store::load(tx, id).await
}

pub async fn complete(
    tx: &mut TenantTx,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Booking> {
    let (from, starts_at) = lock(tx, id, BookingStatus::Completed).await?;
    if starts_at > now {
        return Err(ApiError::Conflict {
            code: "not_started",
            message: "the booking has not started yet".into(),
            field: None,
        });
    }
    set_status(tx, id, BookingStatus::Completed, None).await?;
    store::record(
        tx,
        id,
        Some(from),
        BookingStatus::Completed,
        actor,
        None,
        json!({}),
    )
    .await?;
    store::load(tx, id).await
}

/// Moves a booking to a new start (same services; same staff unless another is asked for
/// or the staff member cannot make it and the visit was booked with "anyone").
pub async fn reschedule(
    tx: &mut TenantTx,
    rules: &SalonRules,
    id: Uuid,
    new_start: DateTime<Utc>,
    staff: Option<Uuid>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> ApiResult<Booking> {
    let (from, old_start) = lock(tx, id, BookingStatus::Rescheduled).await?;
    let current = store::load(tx, id).await?;
    let requests: Vec<ItemRequest> = current
        .items
        .iter()
        .map(|i| ItemRequest {
            service_id: i.service_id,
            staff: Some(staff.unwrap_or(i.staff_id)),
        })
        .collect();
    let planned = plan(tx, rules, &requests, new_start, Some(id), now).await?;
    let (staff_ids, span) = window(&planned);
    store::expire_overdue(tx, None, &staff_ids, span).await?;
    // Items keep their prices and deposits: the booking's terms do not change with its time.
    // Its own blocks step aside while they move, so a shift within its own time works;
    // making them live again is when the double-booking guard checks everyone else's.
    tx.query("UPDATE booking_items SET live = false WHERE booking_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    for (item, new) in current.items.iter().zip(&planned) {
        tx.query(
            "UPDATE booking_items SET staff_id = $3, starts_at = $4, ends_at = $5, block = tstzrange($6, $7)
             WHERE booking_id = $1 AND position = $2",
        )
        .bind(id)
        .bind(item.position)
        .bind(new.staff_id)
        .bind(new.starts_at)
        .bind(new.ends_at)
        .bind(new.block_start)
        .bind(new.block_end)
        .execute(tx.conn())
        .await?;
    }
    tx.query("UPDATE booking_items SET live = true WHERE booking_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(slot_taken)?;
    let ends_at = planned.last().map_or(current.ends_at, |p| p.ends_at);
    tx.query("UPDATE bookings SET status = 'rescheduled', starts_at = $2, ends_at = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(new_start)
        .bind(ends_at)
        .execute(tx.conn())
        .await?;
    let details = json!({ "from_starts_at": old_start, "to_starts_at": new_start });
    store::record(
        tx,
        id,
        Some(from),
        BookingStatus::Rescheduled,
        actor,
        None,
        details,
    )
    .await?;
    store::load(tx, id).await
}
