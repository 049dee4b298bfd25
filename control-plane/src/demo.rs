//! The demo salon `dev` creates, so the first command shows a working salon.

use sea_orm::ConnectionTrait;
use tenancy::SchemaName;
use uuid::Uuid;

use crate::{
    LocalProvisioner, NewTenant,
    catalog::{self, Actor, TenantRecord, stmt},
};

pub const DEMO_SLUG: &str = "demo";
/// The demo salon's owner, created by `dev` (a local-only account).
pub const DEMO_OWNER_EMAIL: &str = "owner@lumiere.example";
pub const DEMO_OWNER_PASSWORD: &str = "Lumiere-Owner-2026";
/// The platform admin `dev` creates (a local-only account).
pub const DEV_ADMIN_EMAIL: &str = "admin@instudio.example";
pub const DEV_ADMIN_PASSWORD: &str = "InStudio-Admin-2026";

/// Creates and seeds the demo salon unless it exists already.
pub async fn ensure_demo_salon(provisioner: &LocalProvisioner) -> anyhow::Result<TenantRecord> {
    if let Some(existing) = catalog::find_tenant(provisioner.db(), DEMO_SLUG).await?
        && existing.status != "deleted"
    {
        return Ok(existing);
    }
    let new = NewTenant::new(DEMO_SLUG, "Lumière Hair & Spa", "professional")?;
    let tenant = provisioner
        .create_tenant(&new, &Actor::system("dev"))
        .await?;
    let schema = SchemaName::parse(tenant.schema_name.as_deref().unwrap_or_default())?;
    seed(provisioner.db(), &schema).await?;
    Ok(tenant)
}

async fn seed<C: ConnectionTrait>(db: &C, schema: &SchemaName) -> anyhow::Result<()> {
    let s = schema.quoted();
    db.execute_raw(stmt(
        &format!(
            "UPDATE {s}.salon_settings SET time_zone = 'Europe/Madrid', currency = 'EUR',
                 locale = 'es', primary_color = '#8a4f7d', contact_email = 'hola@lumiere.example',
                 contact_phone = '+34911234567', address = 'Calle de Serrano 41, 28001 Madrid',
                 slot_interval_minutes = 15, min_notice_minutes = 60, max_horizon_days = 120"
        ),
        [],
    ))
    .await?;
    let mut locations = Vec::new();
    for (name, address, phone) in [
        (
            "Salamanca",
            "Calle de Serrano 41, 28001 Madrid",
            "+34911234567",
        ),
        (
            "Chamberí",
            "Calle de Fuencarral 120, 28010 Madrid",
            "+34911234568",
        ),
    ] {
        let id = Uuid::now_v7();
        db.execute_raw(stmt(
            &format!(
                "INSERT INTO {s}.locations (id, name, address, phone) VALUES ($1, $2, $3, $4)"
            ),
            [id.into(), name.into(), address.into(), phone.into()],
        ))
        .await?;
        locations.push(id);
    }
    let services = seed_catalogue(db, &s).await?;
    let staff = seed_staff(db, &s, &services, &locations).await?;
    seed_bookings(db, &s, &services, &staff).await?;
    Ok(())
}

/// A service of the demo catalogue: (name, category, minutes, buffer before, buffer after,
/// price in cents, deposit kind, deposit value).
type DemoService = (
    &'static str,
    &'static str,
    i32,
    i32,
    i32,
    i64,
    &'static str,
    i64,
);

const CATALOGUE: [DemoService; 12] = [
    ("Corte de mujer", "Peluquería", 45, 5, 10, 3500, "none", 0),
    ("Corte de hombre", "Peluquería", 30, 0, 5, 1800, "none", 0),
    (
        "Peinado y brushing",
        "Peluquería",
        40,
        0,
        5,
        2500,
        "none",
        0,
    ),
    ("Tinte raíz", "Color", 60, 10, 10, 4500, "percentage", 20),
    (
        "Mechas balayage",
        "Color",
        150,
        15,
        15,
        12000,
        "fixed",
        3000,
    ),
    (
        "Tratamiento de keratina",
        "Color",
        120,
        10,
        15,
        15000,
        "fixed",
        4000,
    ),
    (
        "Manicura semipermanente",
        "Uñas",
        45,
        0,
        10,
        2800,
        "none",
        0,
    ),
    ("Pedicura spa", "Uñas", 60, 0, 10, 3800, "none", 0),
    (
        "Masaje relajante 60'",
        "Spa y masajes",
        60,
        10,
        15,
        6000,
        "percentage",
        30,
    ),
    (
        "Masaje descontracturante 90'",
        "Spa y masajes",
        90,
        10,
        15,
        8500,
        "percentage",
        30,
    ),
    (
        "Limpieza facial profunda",
        "Estética",
        75,
        5,
        10,
        6500,
        "fixed",
        1500,
    ),
    (
        "Depilación piernas completas",
        "Estética",
        45,
        0,
        10,
        3000,
        "none",
        0,
    ),
];

async fn seed_catalogue<C: ConnectionTrait>(
    db: &C,
    s: &str,
) -> anyhow::Result<Vec<(Uuid, i32, i32, i32, i64, i64)>> {
    let policy = serde_json::json!({
        "rules": [{ "hours_before": 48, "refund_percent": 100 }, { "hours_before": 24, "refund_percent": 50 }],
        "late_cancel_refund_percent": 0, "no_show_refund_percent": 0
    });
    let mut categories = std::collections::HashMap::new();
    for (position, name) in ["Peluquería", "Color", "Uñas", "Spa y masajes", "Estética"]
        .into_iter()
        .enumerate()
    {
        let id = Uuid::now_v7();
        db.execute_raw(stmt(
            &format!("INSERT INTO {s}.service_categories (id, name, position) VALUES ($1, $2, $3)"),
            [
                id.into(),
                name.into(),
                i32::try_from(position).unwrap_or_default().into(),
            ],
        ))
        .await?;
        categories.insert(name, id);
    }
    let mut out = Vec::new();
    for (name, category, minutes, before, after, price, deposit_kind, deposit_value) in CATALOGUE {
        let id = Uuid::now_v7();
        db.execute_raw(stmt(
            &format!(
                "INSERT INTO {s}.services (id, category_id, name, description, duration_minutes,
                     buffer_before_minutes, buffer_after_minutes, price_cents, currency, deposit_kind,
                     deposit_value, cancellation_policy)
                 VALUES ($1, $2, $3, '', $4, $5, $6, $7, 'EUR', $8, $9, $10)"
            ),
            [
                id.into(),
                categories.get(category).copied().into(),
                name.into(),
                minutes.into(),
                before.into(),
                after.into(),
                price.into(),
                deposit_kind.into(),
                deposit_value.into(),
                policy.clone().into(),
            ],
        ))
        .await?;
        let deposit = match deposit_kind {
            "fixed" => deposit_value,
            "percentage" => price * deposit_value / 100,
            _ => 0,
        };
        out.push((id, minutes, before, after, price, deposit));
    }
    Ok(out)
}

/// Five staff members: who they are, which services (by catalogue index) and their day off
/// (ISO weekday). Everyone works 09:30–14:00 and 15:30–20:00 on the other days but Sunday.
const STAFF: [(&str, &[usize], i16); 5] = [
    ("Marta Ruiz", &[0, 1, 2, 3, 4, 5], 1),
    ("Luis Gómez", &[0, 1, 2], 2),
    ("Carmen Vidal", &[3, 4, 5, 0], 3),
    ("Sofía Navarro", &[6, 7, 11], 1),
    ("Irene Castro", &[8, 9, 10, 11], 4),
];

async fn seed_staff<C: ConnectionTrait>(
    db: &C,
    s: &str,
    services: &[(Uuid, i32, i32, i32, i64, i64)],
    locations: &[Uuid],
) -> anyhow::Result<Vec<(Uuid, Vec<usize>, i16)>> {
    let mut out = Vec::new();
    for (i, (name, does, day_off)) in STAFF.into_iter().enumerate() {
        let id = Uuid::now_v7();
        db.execute_raw(stmt(
            &format!("INSERT INTO {s}.staff (id, name, location_id) VALUES ($1, $2, $3)"),
            [
                id.into(),
                name.into(),
                locations[i % locations.len()].into(),
            ],
        ))
        .await?;
        for index in does {
            db.execute_raw(stmt(
                &format!("INSERT INTO {s}.staff_services (staff_id, service_id) VALUES ($1, $2)"),
                [id.into(), services[*index].0.into()],
            ))
            .await?;
        }
        for weekday in (1..=6).filter(|d| *d != day_off) {
            for (start, end) in [("09:30", "14:00"), ("15:30", "20:00")] {
                db.execute_raw(stmt(
                    &format!(
                        "INSERT INTO {s}.staff_weekly_hours (id, staff_id, weekday, start_time, end_time)
                         VALUES ($1, $2, $3, $4::time, $5::time)"
                    ),
                    [Uuid::now_v7().into(), id.into(), weekday.into(), start.into(), end.into()],
                ))
                .await?;
            }
        }
        out.push((id, does.to_vec(), day_off));
    }
    // One of them is off next Friday too.
    if let Some((id, ..)) = out.get(1) {
        db.execute_raw(stmt(
            &format!(
                "INSERT INTO {s}.schedule_exceptions (id, staff_id, kind, date_from, date_to, reason)
                 VALUES ($1, $2, 'time_off', current_date + ((5 - extract(isodow FROM current_date)::int + 7) % 7 + 7),
                         current_date + ((5 - extract(isodow FROM current_date)::int + 7) % 7 + 7), 'Día libre')"
            ),
            [Uuid::now_v7().into(), (*id).into()],
        ))
        .await?;
    }
    Ok(out)
}

const GUESTS: [(&str, &str, &str); 8] = [
    ("Ana López", "ana.lopez@example.com", "+34600111222"),
    ("Javier Martín", "javier.martin@example.com", "+34600111223"),
    ("Lucía Fernández", "lucia.f@example.com", "+34600111224"),
    ("Pablo Sánchez", "pablo.s@example.com", "+34600111225"),
    ("Elena Moreno", "elena.moreno@example.com", "+34600111226"),
    ("Diego Romero", "diego.r@example.com", "+34600111227"),
    ("Laura Jiménez", "laura.j@example.com", "+34600111228"),
    ("Carlos Díaz", "carlos.diaz@example.com", "+34600111229"),
];

/// A week of bookings around today (Madrid time) in several states: past ones completed
/// or missed, upcoming ones confirmed, waiting for a deposit or cancelled.
async fn seed_bookings<C: ConnectionTrait>(
    db: &C,
    s: &str,
    services: &[(Uuid, i32, i32, i32, i64, i64)],
    staff: &[(Uuid, Vec<usize>, i16)],
) -> anyhow::Result<()> {
    let mut customers = Vec::new();
    for (name, email, phone) in GUESTS {
        let id = Uuid::now_v7();
        db.execute_raw(stmt(
            &format!("INSERT INTO {s}.customers (id, kind, name, email, phone) VALUES ($1, 'guest', $2, $3, $4)"),
            [id.into(), name.into(), email.into(), phone.into()],
        ))
        .await?;
        customers.push(id);
    }
    let mut n = 0usize;
    for day in -3i32..=3 {
        for (si, (staff_id, does, day_off)) in staff.iter().enumerate() {
            for (slot, hour) in ["10:00", "16:30"].into_iter().enumerate() {
                n += 1;
                let service = services[does[(n + slot) % does.len()]];
                let (service_id, minutes, before, after, price, deposit) = service;
                let status = match (day, (n + si) % 4) {
                    (d, 0) if d < 0 => "no_show",
                    (d, _) if d < 0 => "completed",
                    (_, 0) => "cancelled",
                    (_, 1) if deposit > 0 => "pending_payment",
                    _ => "confirmed",
                };
                let live = matches!(status, "confirmed" | "pending_payment");
                const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
                let number = format!(
                    "BK-DEMQ{}{}",
                    char::from(ALPHABET[n / 32 % 32]),
                    char::from(ALPHABET[n % 32])
                );
                let booking = Uuid::now_v7();
                let customer = customers[n % customers.len()];
                let sql = format!(
                    "WITH t AS (
                        SELECT ((current_date + $1::int)::timestamp + $2::time) AT TIME ZONE 'Europe/Madrid' AS at
                     ), d AS (SELECT extract(isodow FROM current_date + $1::int)::int AS dow)
                     INSERT INTO {s}.bookings (id, number, customer_id, status, starts_at, ends_at,
                         total_cents, deposit_cents, currency, payment_due_at, refund_percent, refund_cents)
                     SELECT $3, $4, $5, $6, t.at, t.at + make_interval(mins => $7), $8, $9, 'EUR',
                            CASE WHEN $6 = 'pending_payment' THEN now() + interval '2 days' END,
                            CASE WHEN $6 = 'cancelled' THEN 100 END,
                            CASE WHEN $6 = 'cancelled' AND $9 > 0 THEN $9 END
                     FROM t, d WHERE d.dow <> $10 AND d.dow <> 7"
                );
                let inserted = db
                    .execute_raw(stmt(
                        &sql,
                        [
                            day.into(),
                            hour.into(),
                            booking.into(),
                            number.into(),
                            customer.into(),
                            status.into(),
                            minutes.into(),
                            price.into(),
                            deposit.into(),
                            i32::from(*day_off).into(),
                        ],
                    ))
                    .await?;
                if inserted.rows_affected() == 0 {
                    continue; // their day off, or Sunday
                }
                db.execute_raw(stmt(
                    &format!(
                        "INSERT INTO {s}.booking_items (id, booking_id, position, service_id, staff_id, starts_at,
                             ends_at, block, price_cents, deposit_cents, live)
                         SELECT $1, b.id, 0, $2, $3, b.starts_at, b.ends_at,
                                tstzrange(b.starts_at - make_interval(mins => $4), b.ends_at + make_interval(mins => $5)),
                                b.total_cents, b.deposit_cents, $6
                         FROM {s}.bookings b WHERE b.id = $7"
                    ),
                    [
                        Uuid::now_v7().into(),
                        service_id.into(),
                        (*staff_id).into(),
                        before.into(),
                        after.into(),
                        live.into(),
                        booking.into(),
                    ],
                ))
                .await?;
                let history = match status {
                    "pending_payment" => vec![("draft", None), ("pending_payment", Some("draft"))],
                    "confirmed" => vec![("draft", None), ("confirmed", Some("draft"))],
                    other => vec![
                        ("draft", None),
                        ("confirmed", Some("draft")),
                        (other, Some("confirmed")),
                    ],
                };
                for (to, from) in history {
                    db.execute_raw(stmt(
                        &format!(
                            "INSERT INTO {s}.booking_history (booking_id, from_status, to_status, actor, actor_role)
                             VALUES ($1, $2, $3, 'system:demo-seed', 'system')"
                        ),
                        [booking.into(), from.map(str::to_owned).into(), to.into()],
                    ))
                    .await?;
                }
            }
        }
    }
    Ok(())
}
