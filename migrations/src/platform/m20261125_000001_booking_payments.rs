//! Booking deposits, seen from the platform: every PaymentIntent a salon's booking made,
//! with the platform's fee from the salon's plan (so revenue per plan can be reported and
//! a Stripe event about a PaymentIntent or its charge finds its tenant), and the follow-up
//! queue that finishes what a request started at Stripe (creating the PaymentIntent,
//! sending refunds, cancelling the PaymentIntent of an expired booking) should the request
//! itself not get that far.

use sea_orm_migration::prelude::*;

use crate::exec_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE platform.booking_payments (
    stripe_payment_intent_id    text PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES platform.tenants(id) ON DELETE CASCADE,
    payment_id                  uuid NOT NULL UNIQUE,
    booking_id                  uuid NOT NULL,
    plan_code                   text NOT NULL,
    amount_cents                bigint NOT NULL CHECK (amount_cents > 0),
    currency                    text NOT NULL,
    platform_fee_bps            integer NOT NULL,
    platform_fee_cents          bigint NOT NULL,
    status                      text NOT NULL,
    refunded_cents              bigint NOT NULL DEFAULT 0,
    platform_fee_refunded_cents bigint NOT NULL DEFAULT 0,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    succeeded_at                timestamptz,
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booking_payments_tenant ON platform.booking_payments (tenant_id, created_at);
CREATE INDEX booking_payments_plan ON platform.booking_payments (plan_code, succeeded_at)
    WHERE status = 'succeeded';

-- One row per booking with Stripe work outstanding; written before the tenant's own
-- transaction commits, removed once nothing is left to do.
CREATE TABLE platform.payment_followups (
    tenant_id  uuid NOT NULL REFERENCES platform.tenants(id) ON DELETE CASCADE,
    booking_id uuid NOT NULL,
    due_at     timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, booking_id)
);
CREATE INDEX payment_followups_due ON platform.payment_followups (due_at);
"#;

const DOWN: &str = r#"
DROP TABLE platform.payment_followups;
DROP TABLE platform.booking_payments;
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
