//! Dedicated tenants on the local server: a database of their own, holding the tenant's
//! schema under the same name it would have in a shared pool.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use url::Url;

use super::{migrate_schema, stmt};
use crate::{DatabaseName, Error, Result, SchemaName};

/// The URL of database `name` on the server `server` points at.
pub fn database_url(server: &Url, name: &DatabaseName) -> Url {
    let mut url = server.clone();
    url.set_path(&format!("/{name}"));
    url
}

/// Creates database `name` on the server `admin` is connected to, and migrates the
/// tenant's schema inside it. Returns the schema version. A database of that name that
/// exists already is refused: it holds data this tenant never owned.
#[tracing::instrument(skip(admin, server), fields(database = %name))]
pub async fn create_database(
    admin: &DatabaseConnection,
    server: &Url,
    name: &DatabaseName,
    schema: &SchemaName,
) -> Result<String> {
    let exists = admin
        .query_one_raw(stmt(
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [name.as_str().into()],
        ))
        .await?
        .is_some();
    if !exists {
        // CREATE DATABASE cannot run in a transaction block; the name is validated and quoted.
        admin
            .execute_unprepared(&format!("CREATE DATABASE {}", name.quoted()))
            .await?;
    }
    let db = Database::connect(database_url(server, name).as_str()).await?;
    let version = migrate_schema(&db, schema).await;
    db.close().await.map_err(Error::from)?;
    version
}

/// Drops a dedicated tenant's database, disconnecting whoever is still connected.
#[tracing::instrument(skip(admin), fields(database = %name))]
pub async fn drop_database(admin: &DatabaseConnection, name: &DatabaseName) -> Result<()> {
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            name.quoted()
        ))
        .await?;
    Ok(())
}
