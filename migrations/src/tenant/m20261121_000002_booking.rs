//! The salon's catalogue, staff and their schedules, customers and bookings.
//!
//! Double booking is impossible by construction: every booking item holds its staff
//! member's time block (service time plus buffers) and an exclusion constraint forbids two
//! live blocks of one staff member from overlapping. Times are UTC (`timestamptz`); weekly
//! hours and exceptions are salon-local wall-clock times, resolved in the salon's zone.

use sea_orm_migration::prelude::*;

use crate::sql_migration;

// btree_gist lives in `public`, once per database, and is named with its schema: tenant
// migrations run with only the tenant's schema on the search path.
const UP: &str = r#"
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;

ALTER TABLE salon_settings
    ADD COLUMN slot_interval_minutes integer CHECK (slot_interval_minutes BETWEEN 5 AND 240),
    ADD COLUMN min_notice_minutes integer NOT NULL DEFAULT 60 CHECK (min_notice_minutes BETWEEN 0 AND 10080),
    ADD COLUMN max_horizon_days integer NOT NULL DEFAULT 90 CHECK (max_horizon_days BETWEEN 1 AND 730),
    ADD COLUMN payment_timeout_minutes integer NOT NULL DEFAULT 30 CHECK (payment_timeout_minutes BETWEEN 5 AND 1440);

CREATE TABLE service_categories (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    position   integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE services (
    id                    uuid PRIMARY KEY,
    category_id           uuid REFERENCES service_categories(id) ON DELETE SET NULL,
    name                  text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    duration_minutes      integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 240),
    buffer_after_minutes  integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
    price_cents           bigint NOT NULL CHECK (price_cents BETWEEN 0 AND 100000000),
    currency              text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    deposit_kind          text NOT NULL DEFAULT 'none' CHECK (deposit_kind IN ('none', 'fixed', 'percentage')),
    deposit_value         bigint NOT NULL DEFAULT 0 CHECK (deposit_value >= 0),
    cancellation_policy   jsonb NOT NULL DEFAULT '{"rules": [], "late_cancel_refund_percent": 0, "no_show_refund_percent": 0}'
                          CHECK (jsonb_typeof(cancellation_policy) = 'object'),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deposit_consistent CHECK (
        (deposit_kind = 'none' AND deposit_value = 0) OR
        (deposit_kind = 'fixed' AND deposit_value BETWEEN 1 AND price_cents) OR
        (deposit_kind = 'percentage' AND deposit_value BETWEEN 1 AND 100))
);

CREATE TABLE staff (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email        text,
    phone        text,
    location_id  uuid REFERENCES locations(id) ON DELETE SET NULL,
    user_subject text UNIQUE,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_services (
    staff_id   uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, service_id)
);
CREATE INDEX staff_services_service ON staff_services (service_id);

CREATE TABLE staff_weekly_hours (
    id          uuid PRIMARY KEY,
    staff_id    uuid NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_time  time NOT NULL,
    end_time    time NOT NULL,
    valid_from  date,
    valid_until date,
    CHECK (start_time < end_time),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until)
);
CREATE INDEX staff_weekly_hours_staff ON staff_weekly_hours (staff_id);

CREATE TABLE schedule_exceptions (
    id         uuid PRIMARY KEY,
    staff_id   uuid REFERENCES staff(id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('time_off', 'holiday', 'custom_hours')),
    date_from  date NOT NULL,
    date_to    date NOT NULL,
    start_time time,
    end_time   time,
    reason     text CHECK (length(reason) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (date_from <= date_to),
    CHECK ((start_time IS NULL) = (end_time IS NULL)),
    CHECK (start_time IS NULL OR start_time < end_time),
    CHECK (kind <> 'custom_hours' OR start_time IS NOT NULL)
);
CREATE INDEX schedule_exceptions_dates ON schedule_exceptions (date_from, date_to);

CREATE TABLE customers (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('registered', 'guest')),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email             text CHECK (email = lower(email)),
    phone             text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    user_subject      text UNIQUE,
    marketing_consent boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (email IS NOT NULL OR phone IS NOT NULL),
    CHECK ((kind = 'registered') = (user_subject IS NOT NULL))
);
CREATE INDEX customers_email ON customers (email);

CREATE TABLE bookings (
    id                uuid PRIMARY KEY,
    number            text NOT NULL UNIQUE CHECK (number ~ '^BK-[2-9A-HJ-NP-Z]{6}$'),
    customer_id       uuid NOT NULL REFERENCES customers(id),
    status            text NOT NULL CHECK (status IN ('draft', 'pending_payment', 'confirmed',
                          'rescheduled', 'cancelled', 'no_show', 'completed', 'expired')),
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL,
    total_cents       bigint NOT NULL CHECK (total_cents >= 0),
    deposit_cents     bigint NOT NULL CHECK (deposit_cents >= 0),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    notes             text CHECK (length(notes) <= 2000),
    payment_due_at    timestamptz,
    refund_percent    integer CHECK (refund_percent BETWEEN 0 AND 100),
    refund_cents      bigint CHECK (refund_cents >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at),
    CHECK (deposit_cents <= total_cents)
);
CREATE INDEX bookings_starts ON bookings (starts_at, id);
CREATE INDEX bookings_customer ON bookings (customer_id, starts_at);
CREATE INDEX bookings_pending ON bookings (payment_due_at) WHERE status = 'pending_payment';

-- Each service in a visit, back to back; `block` is the staff member's time it holds.
CREATE TABLE booking_items (
    id          uuid PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    position    smallint NOT NULL CHECK (position >= 0),
    service_id  uuid NOT NULL REFERENCES services(id),
    staff_id    uuid NOT NULL REFERENCES staff(id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    block       tstzrange NOT NULL,
    price_cents   bigint NOT NULL CHECK (price_cents >= 0),
    deposit_cents bigint NOT NULL DEFAULT 0 CHECK (deposit_cents BETWEEN 0 AND price_cents),
    live          boolean NOT NULL DEFAULT true,
    UNIQUE (booking_id, position),
    CHECK (starts_at < ends_at),
    CHECK (block @> tstzrange(starts_at, ends_at)),
    CONSTRAINT no_double_booking EXCLUDE USING gist
        (staff_id public.gist_uuid_ops WITH =, block WITH &&) WHERE (live)
);
CREATE INDEX booking_items_staff ON booking_items USING gist (staff_id public.gist_uuid_ops, block);
CREATE INDEX booking_items_booking ON booking_items (booking_id);

CREATE TABLE booking_history (
    id          bigserial PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    from_status text,
    to_status   text NOT NULL,
    actor       text NOT NULL,
    actor_role  text NOT NULL,
    reason      text,
    details     jsonb NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_history_booking ON booking_history (booking_id, id);

-- Events for the notification work to send (an outbox: written in the booking's transaction).
CREATE TABLE booking_events (
    id           bigserial PRIMARY KEY,
    booking_id   uuid NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX booking_events_unprocessed ON booking_events (id) WHERE processed_at IS NULL;
"#;

const DOWN: &str = r#"
DROP TABLE booking_events;
DROP TABLE booking_history;
DROP TABLE booking_items;
DROP TABLE bookings;
DROP TABLE customers;
DROP TABLE schedule_exceptions;
DROP TABLE staff_weekly_hours;
DROP TABLE staff_services;
DROP TABLE staff;
DROP TABLE services;
DROP TABLE service_categories;
ALTER TABLE salon_settings
    DROP COLUMN slot_interval_minutes,
    DROP COLUMN min_notice_minutes,
    DROP COLUMN max_horizon_days,
    DROP COLUMN payment_timeout_minutes;
"#;

sql_migration!(UP, DOWN);
