//! Platform billing with Stripe: the Stripe product and price of each paid plan, each
//! tenant's Stripe customer and subscription (with the time of the Stripe state last
//! applied, so an older event never overwrites a newer one), and every webhook event
//! received, by id, so each is applied exactly once.

use sea_orm_migration::prelude::*;

use crate::sql_migration;

const UP: &str = r#"
ALTER TABLE platform.plans
    ADD COLUMN stripe_product_id text UNIQUE,
    ADD COLUMN stripe_price_id   text UNIQUE;

CREATE TABLE platform.billing_accounts (
    tenant_id              uuid PRIMARY KEY REFERENCES platform.tenants(id) ON DELETE CASCADE,
    stripe_customer_id     text NOT NULL UNIQUE,
    stripe_subscription_id text UNIQUE,
    -- Stripe's subscription status as last applied (incomplete, active, past_due, ...).
    subscription_status    text,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    current_period_end     timestamptz,
    -- `created` of the Stripe event whose state is applied here: older events are ignored.
    state_at               timestamptz,
    -- Dunning: the first failed payment of the current run, and when the grace period
    -- ran out and billing suspended the tenant (so only billing resumes it).
    past_due_since         timestamptz,
    billing_suspended_at   timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.stripe_events (
    id          text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type        text NOT NULL,
    created     timestamptz NOT NULL,
    tenant_id   uuid REFERENCES platform.tenants(id) ON DELETE SET NULL,
    -- What applying it did (`applied`, `ignored_stale`, `ignored_unknown_tenant`, ...).
    outcome     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_tenant ON platform.stripe_events (tenant_id, created);
"#;

const DOWN: &str = r#"
DROP TABLE platform.stripe_events;
DROP TABLE platform.billing_accounts;
ALTER TABLE platform.plans DROP COLUMN stripe_price_id, DROP COLUMN stripe_product_id;
"#;

sql_migration!(UP, DOWN);
