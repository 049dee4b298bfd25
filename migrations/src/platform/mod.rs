//! Migrations of the `platform` catalog schema.

use sea_orm_migration::prelude::*;

mod m20261121_000001_catalog;
mod m20261122_000001_identity;
mod m20261123_000001_billing;
mod m20261125_000001_booking_payments;
mod m20261125_000002_subscription_starts;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![
        Box::new(m20261121_000001_catalog::Migration),
        Box::new(m20261122_000001_identity::Migration),
        Box::new(m20261123_000001_billing::Migration),
        Box::new(m20261125_000001_booking_payments::Migration),
        Box::new(m20261125_000002_subscription_starts::Migration),
    ]
}
