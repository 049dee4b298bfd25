//! The salon's own profile and its locations: the first tables of every tenant schema.

use sea_orm_migration::prelude::*;

use crate::sql_migration;

const UP: &str = r#"
CREATE TABLE salon_settings (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone     text NOT NULL DEFAULT 'Europe/Madrid',
    currency      text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    locale        text NOT NULL DEFAULT 'es' CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    logo_url      text,
    primary_color text CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
    contact_email text,
    contact_phone text,
    address       text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE locations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    address    text,
    phone      text,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
"#;

const DOWN: &str = r#"
DROP TABLE locations;
DROP TABLE salon_settings;
"#;

sql_migration!(UP, DOWN);
