//! Booking payments: deposits taken through Stripe and the refunds of them.
//!
//! A deposit is a `payments` row made in the booking's own transaction, before Stripe is
//! asked for anything; its `idempotency_key` (from the payment's id) makes every request
//! for its PaymentIntent, retries included, create one object at Stripe. Each refund is a
//! `refunds` row made in the transaction that decided it (a cancellation, a no-show, a
//! payment that came after the booking expired), then sent to Stripe under its own key.
//! Every payment records the platform's fee from the salon's plan at the time it was
//! made. `payment_events` holds the Stripe events applied here, so each applies once.

use sea_orm_migration::prelude::*;

use crate::exec_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE payments (
    id                       uuid PRIMARY KEY,
    booking_id               uuid NOT NULL REFERENCES bookings(id),
    kind                     text NOT NULL CHECK (kind IN ('deposit')),
    status                   text NOT NULL CHECK (status IN ('requires_payment', 'processing',
                                 'succeeded', 'failed', 'canceled')),
    amount_cents             bigint NOT NULL CHECK (amount_cents > 0),
    currency                 text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    plan_code                text NOT NULL,
    platform_fee_bps         integer NOT NULL CHECK (platform_fee_bps BETWEEN 0 AND 10000),
    platform_fee_cents       bigint NOT NULL CHECK (platform_fee_cents BETWEEN 0 AND amount_cents),
    idempotency_key          text NOT NULL UNIQUE,
    stripe_payment_intent_id text UNIQUE,
    stripe_charge_id         text,
    client_secret            text,
    -- The PaymentMethod the customer gave with the booking (`pm_…`), if any: the
    -- PaymentIntent is confirmed with it at once.
    payment_method           text CHECK (payment_method ~ '^(pm|card|src)_[A-Za-z0-9_]{1,200}$'),
    -- When Stripe confirmed the PaymentIntent of a payment no longer wanted is cancelled.
    stripe_canceled_at       timestamptz,
    failure_code             text,
    failure_message          text,
    refunded_cents           bigint NOT NULL DEFAULT 0 CHECK (refunded_cents BETWEEN 0 AND amount_cents),
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    succeeded_at             timestamptz
);
CREATE UNIQUE INDEX payments_one_deposit ON payments (booking_id) WHERE kind = 'deposit';
CREATE INDEX payments_open ON payments (created_at) WHERE status IN ('requires_payment', 'processing');

CREATE TABLE refunds (
    id                          uuid PRIMARY KEY,
    payment_id                  uuid NOT NULL REFERENCES payments(id),
    booking_id                  uuid NOT NULL REFERENCES bookings(id),
    reason                      text NOT NULL CHECK (reason IN ('cancellation', 'no_show',
                                    'paid_after_expiry', 'manual')),
    status                      text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    amount_cents                bigint NOT NULL CHECK (amount_cents > 0),
    platform_fee_refunded_cents bigint NOT NULL DEFAULT 0 CHECK (platform_fee_refunded_cents >= 0),
    idempotency_key             text NOT NULL UNIQUE,
    stripe_refund_id            text UNIQUE,
    attempts                    integer NOT NULL DEFAULT 0,
    last_error                  text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

CREATE TABLE payment_events (
    stripe_event_id text PRIMARY KEY,
    type            text NOT NULL,
    payment_id      uuid REFERENCES payments(id),
    outcome         text NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
);
"#;

const DOWN: &str = r#"
DROP TABLE payment_events;
DROP TABLE refunds;
DROP TABLE payments;
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_sql(manager, DOWN).await
    }
}
