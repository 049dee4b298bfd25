//! Migrations of one tenant's salon schema. They run with `search_path` set to the
//! tenant's schema, so table names are never schema-qualified here.

use sea_orm_migration::prelude::*;

mod m20261121_000001_salon;
mod m20261121_000002_booking;
mod m20261124_000001_payments;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261121_000001_salon::Migration),
        Box::new(m20261121_000002_booking::Migration),
        Box::new(m20261124_000001_payments::Migration),
    ]
}
