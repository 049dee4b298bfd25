//! The demo salon `dev` creates, so the first command shows a working salon.

use sea_orm::ConnectionTrait;
use tenancy::SchemaName;
use uuid::Uuid;

use crate::{
    LocalProvisioner, NewTenant,
    catalog::{self, Actor, TenantRecord, stmt},
};

pub const DEMO_SLUG: &str = "demo";
/// The demo salon's owner, created by `dev` (a local-only account).
pub const DEMO_OWNER_EMAIL: &str = "owner@lumiere.example";
pub const DEMO_OWNER_PASSWORD: &str = "Lumiere-Owner-2026";
/// The platform admin `dev` creates (a local-only account).
pub const DEV_ADMIN_EMAIL: &str = "admin@instudio.example";
pub const DEV_ADMIN_PASSWORD: &str = "InStudio-Admin-2026";

/// Creates and seeds the demo salon unless it exists already.
pub async fn ensure_demo_salon(provisioner: &LocalProvisioner) -> anyhow::Result<TenantRecord> {
    if let Some(existing) = catalog::find_tenant(provisioner.db(), DEMO_SLUG).await?
        && existing.status != "deleted"
    {
        return Ok(existing);
    }
    let new = NewTenant::new(DEMO_SLUG, "Lumière Hair & Spa", "professional")?;
    let tenant = provisioner
        .create_tenant(&new, &Actor::system("dev"))
        .await?;
    let schema = SchemaName::parse(tenant.schema_name.as_deref().unwrap_or_default())?;
    seed(provisioner.db(), &schema).await?;
    Ok(tenant)
}

async fn seed<C: ConnectionTrait>(db: &C, schema: &SchemaName) -> anyhow::Result<()> {
    let s = schema.quoted();
    db.execute_raw(stmt(
        &format!(
            "UPDATE {s}.salon_settings SET time_zone = 'Europe/Madrid', currency = 'EUR',
                 locale = 'es', primary_color = '#8a4f7d', contact_email = 'hola@lumiere.example',
                 contact_phone = '+34911234567', address = 'Calle de Serrano 41, 28001 Madrid'"
        ),
        [],
    ))
    .await?;
    for (name, address, phone) in [
        (
            "Salamanca",
            "Calle de Serrano 41, 28001 Madrid",
            "+34911234567",
        ),
        (
            "Chamberí",
            "Calle de Fuencarral 120, 28010 Madrid",
            "+34911234568",
        ),
    ] {
        db.execute_raw(stmt(
            &format!(
                "INSERT INTO {s}.locations (id, name, address, phone) VALUES ($1, $2, $3, $4)"
            ),
            [
                Uuid::now_v7().into(),
                name.into(),
                address.into(),
                phone.into(),
            ],
        ))
        .await?;
    }
    Ok(())
}
