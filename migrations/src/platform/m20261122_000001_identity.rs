//! Identity, custom-domain checks and usage: signing keys, sessions and their refresh
//! tokens, login throttling, single-use tokens (email verification, password reset,
//! invitations), the notification outbox, per-month request usage, and the columns the
//! lifecycle and the domain re-check need. Plan changes now announce a route change too,
//! since the runtime enforces the plan's request rate.

use sea_orm_migration::prelude::*;

use crate::sql_migration;

const UP: &str = r#"
ALTER TABLE platform.users
    ADD COLUMN email_verified_at   timestamptz,
    ADD COLUMN password_changed_at timestamptz,
    ADD COLUMN disabled_at         timestamptz;
CREATE INDEX users_tenant ON platform.users (tenant_id);

-- The salon's locale and time zone chosen at signup, applied when it is provisioned
-- (a paid signup is provisioned only once the payment arrives).
ALTER TABLE platform.tenants
    ADD COLUMN delete_after timestamptz,
    ADD COLUMN locale       text CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    ADD COLUMN time_zone    text CHECK (length(time_zone) BETWEEN 1 AND 64);
CREATE INDEX tenants_delete_after ON platform.tenants (delete_after) WHERE delete_after IS NOT NULL;

ALTER TABLE platform.tenant_domains
    ADD COLUMN last_checked_at timestamptz,
    ADD COLUMN flagged_at      timestamptz,
    ADD COLUMN check_error     text;
CREATE INDEX tenant_domains_recheck ON platform.tenant_domains (last_checked_at)
    WHERE kind = 'custom' AND verified_at IS NOT NULL;

-- Access-token signing keys. The private half is sealed (XChaCha20-Poly1305, nonce first)
-- with a key only the control plane holds; the database never sees it in the clear.
CREATE TABLE platform.signing_keys (
    kid                text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
    algorithm          text NOT NULL CHECK (algorithm IN ('EdDSA')),
    public_key         bytea NOT NULL,
    private_key_sealed bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    retired_at         timestamptz,
    verify_until       timestamptz,
    CHECK (retired_at IS NULL OR verify_until IS NOT NULL)
);
CREATE UNIQUE INDEX signing_keys_one_active ON platform.signing_keys ((true))
    WHERE activated_at IS NOT NULL AND retired_at IS NULL;

CREATE TABLE platform.sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES platform.users(id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('bearer', 'cookie')),
    csrf_hash      bytea,
    ip             inet,
    user_agent     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    CHECK ((kind = 'cookie') = (csrf_hash IS NOT NULL))
);
CREATE INDEX sessions_live_by_user ON platform.sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored as SHA-256 of the token. A token is used once: refreshing
-- rotates it, and presenting a rotated one again revokes its whole session.
CREATE TABLE platform.refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES platform.sessions(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON platform.refresh_tokens (session_id);

-- Failed sign-ins by address, whether or not a user has it (so lockout tells nobody
-- which addresses exist).
CREATE TABLE platform.login_throttle (
    email           text PRIMARY KEY,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until    timestamptz,
    last_failure_at timestamptz NOT NULL DEFAULT now()
);

-- Single-use tokens sent by email, stored as SHA-256 of the token.
CREATE TABLE platform.one_time_tokens (
    id         uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    purpose    text NOT NULL CHECK (purpose IN ('email_verification', 'password_reset', 'invitation')),
    email      text NOT NULL CHECK (email = lower(email)),
    user_id    uuid REFERENCES platform.users(id) ON DELETE CASCADE,
    tenant_id  uuid REFERENCES platform.tenants(id) ON DELETE CASCADE,
    role       text CHECK (role IN ('owner', 'manager', 'receptionist', 'staff')),
    created_by uuid REFERENCES platform.users(id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CHECK ((purpose = 'invitation') = (tenant_id IS NOT NULL AND role IS NOT NULL)),
    CHECK ((purpose = 'invitation') = (user_id IS NULL))
);
CREATE INDEX one_time_tokens_user ON platform.one_time_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX one_time_tokens_tenant ON platform.one_time_tokens (tenant_id) WHERE purpose = 'invitation';

-- Messages to send; the notification sender drains it.
CREATE TABLE platform.outbox (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body_text       text NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    tenant_id       uuid REFERENCES platform.tenants(id) ON DELETE SET NULL,
    user_id         uuid REFERENCES platform.users(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX outbox_pending ON platform.outbox (next_attempt_at) WHERE sent_at IS NULL;

-- Requests each tenant's runtimes served, by calendar month (UTC); runtimes add to it.
CREATE TABLE platform.tenant_usage (
    tenant_id  uuid NOT NULL REFERENCES platform.tenants(id) ON DELETE CASCADE,
    period     date NOT NULL CHECK (extract(day FROM period) = 1),
    requests   bigint NOT NULL DEFAULT 0,
    throttled  bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period)
);

-- A plan change changes the rate limit runtimes enforce: announce it. Domain rows are
-- also touched by the periodic re-check, which must not flush every runtime's cache.
DROP TRIGGER tenants_route_changed ON platform.tenants;
CREATE TRIGGER tenants_route_changed
    AFTER UPDATE OF status, placement_kind, pool_name, database_name, schema_name, plan_code OR DELETE
    ON platform.tenants FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
DROP TRIGGER tenant_domains_route_changed ON platform.tenant_domains;
CREATE TRIGGER tenant_domains_route_changed
    AFTER INSERT OR DELETE OR UPDATE OF hostname, tenant_id, kind, verified_at
    ON platform.tenant_domains FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
"#;

const DOWN: &str = r#"
DROP TRIGGER tenant_domains_route_changed ON platform.tenant_domains;
CREATE TRIGGER tenant_domains_route_changed
    AFTER INSERT OR UPDATE OR DELETE
    ON platform.tenant_domains FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
DROP TRIGGER tenants_route_changed ON platform.tenants;
CREATE TRIGGER tenants_route_changed
    AFTER UPDATE OF status, placement_kind, pool_name, database_name, schema_name OR DELETE
    ON platform.tenants FOR EACH ROW EXECUTE FUNCTION platform.notify_tenant_route();
DROP TABLE platform.tenant_usage;
DROP TABLE platform.outbox;
DROP TABLE platform.one_time_tokens;
DROP TABLE platform.login_throttle;
DROP TABLE platform.refresh_tokens;
DROP TABLE platform.sessions;
DROP TABLE platform.signing_keys;
DROP INDEX platform.tenant_domains_recheck;
ALTER TABLE platform.tenant_domains
    DROP COLUMN check_error, DROP COLUMN flagged_at, DROP COLUMN last_checked_at;
DROP INDEX platform.tenants_delete_after;
ALTER TABLE platform.tenants
    DROP COLUMN time_zone, DROP COLUMN locale, DROP COLUMN delete_after;
DROP INDEX platform.users_tenant;
ALTER TABLE platform.users
    DROP COLUMN disabled_at, DROP COLUMN password_changed_at, DROP COLUMN email_verified_at;
"#;

sql_migration!(UP, DOWN);
