//! Migrations of the `platform` catalog schema.

use sea_orm_migration::prelude::*;

mod m20261121_000001_catalog;

pub fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(m20261121_000001_catalog::Migration)]
}
