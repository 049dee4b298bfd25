//! Reading a booking as the API shows it, and writing its history and events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::BookingStatus;
use crate::{
    db::TenantTx,
    error::{ApiError, ApiResult},
};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct BookingItem {
    pub position: i16,
    pub service_id: Uuid,
    pub service_name: String,
    pub staff_id: Uuid,
    pub staff_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub price_cents: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerRef {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Booking {
    pub id: Uuid,
    /// Readable over the phone, e.g. `BK-7Q2F9K`.
    pub number: String,
    pub status: BookingStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub customer: CustomerRef,
    pub items: Vec<BookingItem>,
    pub total_cents: i64,
    pub deposit_cents: i64,
    pub currency: String,
    pub notes: Option<String>,
    /// While `pending_payment`: when the booking expires unless paid.
    pub payment_due_at: Option<DateTime<Utc>>,
    pub refund_percent: Option<i32>,
    pub refund_cents: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The deposit paid (or to pay) online through Stripe; absent in lists and when no
    /// deposit is taken online.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<super::payments::Deposit>,
}

#[derive(sqlx::FromRow)]
struct BookingRow {
    id: Uuid,
    number: String,
    status: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    customer_id: Uuid,
    customer_name: String,
    customer_email: Option<String>,
    customer_phone: Option<String>,
    total_cents: i64,
    deposit_cents: i64,
    currency: String,
    notes: Option<String>,
    payment_due_at: Option<DateTime<Utc>>,
    refund_percent: Option<i32>,
    refund_cents: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A booking with its customer, ready for a `WHERE` clause.
macro_rules! booking_select {
    ($clause:literal) => {
        concat!("SELECT b.id, b.number, b.status, b.starts_at, b.ends_at,
        b.customer_id, c.name AS customer_name, c.email AS customer_email, c.phone AS customer_phone,
        b.total_cents, b.deposit_cents, b.currency, b.notes, b.payment_due_at, b.refund_percent,
        b.refund_cents, b.created_at, b.updated_at
     FROM bookings b JOIN customers c ON c.id = b.customer_id", " ", $clause)
    };
}

fn assemble(row: BookingRow, items: Vec<BookingItem>) -> ApiResult<Booking> {
    let status = row.status.parse().map_err(|()| {
        ApiError::internal(anyhow::anyhow!("unknown booking status {}", row.status))
    })?;
    Ok(Booking {
        id: row.id,
        number: row.number,
        status,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        customer: CustomerRef {
            id: row.customer_id,
            name: row.customer_name,
            email: row.customer_email,
            phone: row.customer_phone,
        },
        items,
        total_cents: row.total_cents,
        deposit_cents: row.deposit_cents,
        currency: row.currency,
        notes: row.notes,
        payment_due_at: row.payment_due_at,
        refund_percent: row.refund_percent,
        refund_cents: row.refund_cents,
        created_at: row.created_at,
        updated_at: row.updated_at,
        payment: None,
    })
}

const ITEMS_SELECT: &str = "SELECT i.booking_id, i.position, i.service_id, s.name AS service_name,
        i.staff_id, st.name AS staff_name, i.starts_at, i.ends_at, i.price_cents
     FROM booking_items i JOIN services s ON s.id = i.service_id JOIN staff st ON st.id = i.staff_id
     WHERE i.booking_id = ANY($1) ORDER BY i.booking_id, i.position";

#[derive(sqlx::FromRow)]
struct ItemRow {
    booking_id: Uuid,
    #[sqlx(flatten)]
    item: BookingItem,
}

/// Loads bookings with their items, keeping the order of `rows`.
async fn with_items(tx: &mut TenantTx, rows: Vec<BookingRow>) -> ApiResult<Vec<Booking>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut items = tx
        .query_as::<ItemRow>(ITEMS_SELECT)
        .bind(&ids)
        .fetch_all(tx.conn())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mine: Vec<BookingItem> = items
            .extract_if(.., |i| i.booking_id == row.id)
            .map(|i| i.item)
            .collect();
        out.push(assemble(row, mine)?);
    }
    Ok(out)
}

pub async fn load(tx: &mut TenantTx, id: Uuid) -> ApiResult<Booking> {
    let sql = booking_select!("WHERE b.id = $1");
    let row = tx
        .query_as::<BookingRow>(sql)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or(ApiError::NotFound("booking"))?;
    let mut booking = with_items(tx, vec![row])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("booking"))?;
    if booking.deposit_cents > 0 {
        booking.payment = super::payments::deposit_of(tx, id, false).await?;
    }
    Ok(booking)
}

/// Bookings matching a filter, ordered by start then id, after `cursor`.
#[derive(Debug)]
pub struct ListFilter {
    pub statuses: Option<Vec<String>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub staff: Option<Uuid>,
    pub customer: Option<Uuid>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

pub async fn list(tx: &mut TenantTx, f: &ListFilter) -> ApiResult<Vec<Booking>> {
    let sql = booking_select!(
        "WHERE ($1::text[] IS NULL OR b.status = ANY($1))
           AND ($2::timestamptz IS NULL OR b.ends_at > $2)
           AND ($3::timestamptz IS NULL OR b.starts_at < $3)
           AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM booking_items i
                                             WHERE i.booking_id = b.id AND i.staff_id = $4))
           AND ($5::uuid IS NULL OR b.customer_id = $5)
           AND ($6::timestamptz IS NULL OR (b.starts_at, b.id) > ($6, $7))
         ORDER BY b.starts_at, b.id LIMIT $8"
    );
    let rows = tx
        .query_as::<BookingRow>(sql)
        .bind(f.statuses.as_deref())
        .bind(f.from)
        .bind(f.to)
        .bind(f.staff)
        .bind(f.customer)
        .bind(f.after.map(|a| a.0))
        .bind(f.after.map(|a| a.1))
        .bind(f.limit)
        .fetch_all(tx.conn())
        .await?;
    with_items(tx, rows).await
}

/// Who moved a booking, for its history.
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub role: String,
}

impl Actor {
    pub fn system(reason: &str) -> Self {
        Self {
            name: format!("system:{reason}"),
            role: "system".into(),
        }
    }
}

/// Records a transition in the booking's history and as an event for notifications.
pub async fn record(
    tx: &mut TenantTx,
    booking: Uuid,
    from: Option<BookingStatus>,
    to: BookingStatus,
    actor: &Actor,
    reason: Option<&str>,
    details: Value,
) -> ApiResult<()> {
    let payload = serde_json::json!({
        "from": from, "to": to, "actor": actor.name, "reason": reason, "details": details,
    });
    // One round trip for both rows: the history entry and the event for notifications.
    tx.query(
        "WITH entry AS (
             INSERT INTO booking_history (booking_id, from_status, to_status, actor, actor_role, reason, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7))
         INSERT INTO booking_events (booking_id, kind, payload) VALUES ($1, $8, $9)",
    )
    .bind(booking)
    .bind(from.map(BookingStatus::as_str))
    .bind(to.as_str())
    .bind(&actor.name)
    .bind(&actor.role)
    .bind(reason)
    .bind(&details)
    .bind(format!("booking.{to}"))
    .bind(payload)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct HistoryEntry {
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub actor_role: String,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
    pub at: DateTime<Utc>,
}

pub async fn history(tx: &mut TenantTx, booking: Uuid) -> ApiResult<Vec<HistoryEntry>> {
    Ok(tx
        .query_as::<HistoryEntry>(
            "SELECT from_status, to_status, actor, actor_role, reason, details, at
             FROM booking_history WHERE booking_id = $1 ORDER BY id",
        )
        .bind(booking)
        .fetch_all(tx.conn())
        .await?)
}

/// Expires bookings still waiting for payment after their deadline — those of `only`, or
/// those holding time of `staff` in `[from, to)` — and frees their time.
pub async fn expire_overdue(
    tx: &mut TenantTx,
    only: Option<Uuid>,
    staff: &[Uuid],
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> ApiResult<Vec<Uuid>> {
    let expired: Vec<Uuid> = tx
        .query_scalar(
            "UPDATE bookings SET status = 'expired', updated_at = now()
             WHERE status = 'pending_payment' AND payment_due_at < now()
               AND ($1::uuid IS NULL OR id = $1)
               AND ($2::timestamptz IS NULL OR id IN (
                   SELECT booking_id FROM booking_items
                   WHERE live AND staff_id = ANY($3) AND block && tstzrange($2, $4)))
             RETURNING id",
        )
        .bind(only)
        .bind(window.map(|w| w.0))
        .bind(staff)
        .bind(window.map(|w| w.1))
        .fetch_all(tx.conn())
        .await?;
    finish_expiry(
        tx,
        &expired,
        &Actor::system("payment-timeout"),
        "the deposit was not paid in time",
    )
    .await?;
    Ok(expired)
}

/// What follows a pending booking becoming `expired`: its time is freed, its unpaid online
/// deposit given up, and the transition recorded.
pub async fn finish_expiry(
    tx: &mut TenantTx,
    expired: &[Uuid],
    actor: &Actor,
    reason: &str,
) -> ApiResult<()> {
    if expired.is_empty() {
        return Ok(());
    }
    tx.query("UPDATE booking_items SET live = false WHERE booking_id = ANY($1)")
        .bind(expired)
        .execute(tx.conn())
        .await?;
    super::payments::cancel_unpaid(tx, expired).await?;
    for id in expired {
        record(
            tx,
            *id,
            Some(BookingStatus::PendingPayment),
            BookingStatus::Expired,
            actor,
            Some(reason),
            Value::Null,
        )
        .await?;
    }
    Ok(())
}
