//! The tenant catalog: plans, tenants and their domains, users, shared pools and their
//! warm slots, operations and the audit log, plus the trigger that announces every
//! routing change on `NOTIFY tenant_routes`.

use sea_orm_migration::prelude::*;

use crate::sql_migration;

const UP: &str = r#"
CREATE TABLE platform.plans (
    code                   text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,30}$'),
    name                   text NOT NULL,
    tier                   text NOT NULL CHECK (tier IN ('shared', 'dedicated')),
    price_cents            integer NOT NULL CHECK (price_cents >= 0),
    currency               text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    max_staff              integer CHECK (max_staff > 0),
    max_bookings_per_month integer CHECK (max_bookings_per_month > 0),
    max_custom_domains     integer NOT NULL CHECK (max_custom_domains >= 0),
    requests_per_second    integer NOT NULL CHECK (requests_per_second > 0),
    transaction_fee_bps    integer NOT NULL CHECK (transaction_fee_bps BETWEEN 0 AND 10000),
    support_level          text NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now()
);

INSERT INTO platform.plans
    (code, name, tier, price_cents, max_staff, max_bookings_per_month, max_custom_domains,
     requests_per_second, transaction_fee_bps, support_level)
VALUES
    ('free',         'Free',         'shared',       0,     1,   100,  0,   5, 300, 'community'),
    ('starter',      'Starter',      'shared',    2900,     3,  1000,  1,  20, 200, 'email'),
    ('professional', 'Professional', 'shared',    7900,    15, 10000,  3,  50, 100, 'priority'),
    ('premium',      'Premium',      'dedicated', 24900,   50,  NULL, 10, 200,  50, 'phone'),
    ('enterprise',   'Enterprise',   'dedicated', 79900, NULL,  NULL, 50, 500,   0, 'dedicated');

CREATE TABLE platform.shared_pools (
    name          text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{0,39}$'),
    database_name text NOT NULL CHECK (database_name ~ '^[a-z][a-z0-9_]{0,62}$'),
    max_tenants   integer NOT NULL CHECK (max_tenants > 0),
    warm_slots    integer NOT NULL CHECK (warm_slots >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE platform.slot_number_seq;

CREATE TABLE platform.pool_slots (
    schema_name    text PRIMARY KEY CHECK (schema_name ~ '^slot_[0-9]+$'),
    pool_name      text NOT NULL REFERENCES platform.shared_pools(name),
    state          text NOT NULL CHECK (state IN ('warming', 'ready')),
    schema_version text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pool_slots_ready ON platform.pool_slots (pool_name, created_at) WHERE state = 'ready';

CREATE TABLE platform.tenants (
    id             uuid PRIMARY KEY,
    slug           text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,38}[a-z0-9]$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    status         text NOT NULL CHECK (status IN ('pending_payment', 'provisioning', 'active',
                       'suspended', 'moving', 'cancelled', 'deleted')),
    plan_code      text NOT NULL REFERENCES platform.plans(code),
    desired_tier   text NOT NULL CHECK (desired_tier IN ('shared', 'dedicated')),
    placement_kind text NOT NULL DEFAULT 'none' CHECK (placement_kind IN ('none', 'shared', 'dedicated')),
    pool_name      text REFERENCES platform.shared_pools(name),
    database_name  text,
    schema_name    text,
    schema_version text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT placement_consistent CHECK (
        (placement_kind = 'none') OR
        (placement_kind = 'shared' AND pool_name IS NOT NULL AND schema_name IS NOT NULL
            AND database_name IS NULL) OR
        (placement_kind = 'dedicated' AND database_name IS NOT NULL AND schema_name IS NOT NULL
            AND pool_name IS NULL)),
    CONSTRAINT serving_needs_placement CHECK (
        status NOT IN ('active', 'moving', 'suspended') OR placement_kind <> 'none')
);
CREATE UNIQUE INDEX tenants_shared_schema ON platform.tenants (pool_name, schema_name)
    WHERE placement_kind = 'shared';
CREATE INDEX tenants_status ON platform.tenants (status);

CREATE TABLE platform.tenant_domains (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES platform.tenants(id) ON DELETE CASCADE,
    hostname           text NOT NULL UNIQUE CHECK (hostname = lower(hostname) AND length(hostname) <= 253),
    kind               text NOT NULL CHECK (kind IN ('subdomain', 'custom')),
    verification_token text,
    verified_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_domains_tenant ON platform.tenant_domains (tenant_id);

CREATE TABLE platform.users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(email)),
    display_name  text NOT NULL,
    password_hash text,
    tenant_id     uuid REFERENCES platform.tenants(id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('platform_admin', 'owner', 'manager',
                      'receptionist', 'staff')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_staff_have_no_tenant CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);

CREATE TABLE platform.tenant_operations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid REFERENCES platform.tenants(id) ON DELETE SET NULL,
    kind        text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    actor       text NOT NULL,
    reason      text,
    progress    bigint NOT NULL DEFAULT 0,
    total       bigint,
    error       text,
    details     jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX tenant_operations_tenant ON platform.tenant_operations (tenant_id, started_at DESC);
CREATE INDEX tenant_operations_running ON platform.tenant_operations (status) WHERE status = 'running';

CREATE TABLE platform.audit_log (
    id          bigserial PRIMARY KEY,
    actor       text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    ip          inet,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_target ON platform.audit_log (target_type, target_id, created_at DESC);

-- Every change that can alter how a request is routed announces the tenant's id.
CREATE FUNCTION platform.notify_tenant_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        PERFORM pg_notify('tenant_routes', COALESCE(NEW.id, OLD.id)::text);
    ELSE
        PERFORM pg_notify('tenant_routes', COALESCE(NEW.tenant_id, OLD.tenant_id)::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_route_changed
    AFTER UPDATE OF status, placement_kind, pool_name, database_name, schema_name OR DELETE
    ON platform.tenants FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
CREATE TRIGGER tenant_domains_route_changed
    AFTER INSERT OR UPDATE OR DELETE
    ON platform.tenant_domains FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
"#;

const DOWN: &str = r#"
DROP TABLE platform.audit_log;
DROP TABLE platform.tenant_operations;
DROP TABLE platform.users;
DROP TABLE platform.tenant_domains;
DROP TABLE platform.tenants;
DROP FUNCTION platform.notify_tenant_route();
DROP TABLE platform.pool_slots;
DROP SEQUENCE platform.slot_number_seq;
DROP TABLE platform.shared_pools;
DROP TABLE platform.plans;
"#;

sql_migration!(UP, DOWN);
