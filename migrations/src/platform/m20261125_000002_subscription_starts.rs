//! Paid signups whose Stripe subscription is still to be made: written in the signup's
//! transaction, removed once Stripe has the customer and the subscription. Should Stripe
//! be unreachable at signup, the control plane retries from here (with the same
//! idempotency keys, so a retry never makes a second customer or subscription).

use sea_orm_migration::prelude::*;

use crate::exec_sql;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE TABLE platform.subscription_starts (
    tenant_id       uuid PRIMARY KEY REFERENCES platform.tenants(id) ON DELETE CASCADE,
    plan_code       text NOT NULL REFERENCES platform.plans(code),
    owner_email     text NOT NULL,
    payment_method  text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_starts_due ON platform.subscription_starts (next_attempt_at);
"#;

const DOWN: &str = "DROP TABLE platform.subscription_starts;";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_sql(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec_sql(manager, DOWN).await
    }
}
