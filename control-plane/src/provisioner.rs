//! The local provisioner: places tenants on this PostgreSQL server with the `tenancy`
//! primitives, in-process. Shared plans claim a warm slot in the least loaded shared
//! pool (in the same transaction as the catalog write); dedicated plans get a database
//! of their own.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlErr, TransactionTrait};
use serde_json::json;
use tenancy::{
    DatabaseName, Hostname, PlanCode, PoolName, SchemaName, TenantSlug, TenantStatus, Tier,
    provision::{self, PoolStatus},
};
use tokio::sync::Notify;
use url::Url;
use uuid::Uuid;

use crate::{
    catalog::{self, Actor, TenantRecord, stmt},
    error::{Error, Result},
};

/// What a new tenant needs: validated before it gets here.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: TenantSlug,
    pub display_name: String,
    pub plan: PlanCode,
    /// The salon's locale and IANA time zone (validated); the schema's defaults if unset.
    pub locale: Option<String>,
    pub time_zone: Option<String>,
}

impl NewTenant {
    pub fn new(slug: &str, display_name: &str, plan: &str) -> Result<Self> {
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(tenancy::ValidationError::new(
                "display_name",
                "invalid_display_name",
                "must be 1 to 200 characters",
            )
            .into());
        }
        Ok(Self {
            slug: TenantSlug::parse(slug)?,
            display_name: display_name.to_owned(),
            plan: plan.parse()?,
            locale: None,
            time_zone: None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct LocalProvisioner {
    db: DatabaseConnection,
    /// The server's URL (any database): dedicated tenants' databases are made there.
    server: Url,
    base_domain: Hostname,
    refill: Arc<Notify>,
}

fn unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl NewTenant {
    /// Rebuilds what a catalogued tenant was created from (to provision it later).
    pub(crate) fn from_record(t: &TenantRecord) -> Result<Self> {
        let mut new = Self::new(&t.slug, &t.display_name, &t.plan_code)?;
        new.locale.clone_from(&t.locale);
        new.time_zone.clone_from(&t.time_zone);
        Ok(new)
    }
}

impl LocalProvisioner {
    pub fn new(db: DatabaseConnection, server: Url, base_domain: Hostname) -> Self {
        Self {
            db,
            server,
            base_domain,
            refill: Arc::new(Notify::new()),
        }
    }

    /// The PostgreSQL server dedicated tenants' databases are made on.
    pub fn server(&self) -> &Url {
        &self.server
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn base_domain(&self) -> &Hostname {
        &self.base_domain
    }

    /// Woken after every claim, so the slot pool refills right away.
    pub fn refill_signal(&self) -> Arc<Notify> {
        self.refill.clone()
    }

    /// Creates a tenant and places it; it serves as soon as this returns.
    #[tracing::instrument(skip(self, new, actor), fields(slug = %new.slug, plan = %new.plan))]
    pub async fn create_tenant(&self, new: &NewTenant, actor: &Actor) -> Result<TenantRecord> {
        let id = match new.plan.tier() {
            Tier::Shared => self.create_shared(new, actor).await?,
            Tier::Dedicated => self.create_dedicated(new, actor).await?,
        };
        tracing::info!(tenant_id = %id, "tenant created");
        catalog::find_tenant(&self.db, new.slug.as_str())
            .await?
            .ok_or_else(|| Error::TenantNotFound(new.slug.to_string()))
    }

    /// Inserts the catalog row of a new tenant (in `status`, no placement yet) and its
    /// subdomain, inside the caller's transaction. Taken names are 409s.
    pub(crate) async fn insert_tenant<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: Uuid,
        new: &NewTenant,
        status: TenantStatus,
    ) -> Result<()> {
        let host = Hostname::subdomain(new.slug.as_str(), &self.base_domain)?;
        conn.execute_raw(stmt(
            "INSERT INTO platform.tenants
                 (id, slug, display_name, status, plan_code, desired_tier, locale, time_zone)
             VALUES ($1, $2, $3, $6, $4, $5, $7, $8)",
            [
                id.into(),
                new.slug.as_str().into(),
                new.display_name.clone().into(),
                new.plan.as_str().into(),
                new.plan.tier().as_str().into(),
                status.as_str().into(),
                new.locale.clone().into(),
                new.time_zone.clone().into(),
            ],
        ))
        .await
        .map_err(|e| match unique_violation(&e) {
            true => Error::Conflict {
                code: "slug_taken",
                message: format!("{} is taken", new.slug),
            },
            false => e.into(),
        })?;
        conn.execute_raw(stmt(
            "INSERT INTO platform.tenant_domains (id, tenant_id, hostname, kind, verified_at)
             VALUES ($1, $2, $3, 'subdomain', now())",
            [Uuid::now_v7().into(), id.into(), host.as_str().into()],
        ))
        .await
        .map_err(|e| match unique_violation(&e) {
            true => Error::Conflict {
                code: "host_taken",
                message: format!("{host} is taken"),
            },
            false => e.into(),
        })?;
        Ok(())
    }

    async fn create_shared(&self, new: &NewTenant, actor: &Actor) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let tx = self.db.begin().await?;
        self.insert_tenant(&tx, id, new, TenantStatus::Provisioning)
            .await?;
        self.place_shared(&tx, id, new, actor).await?;
        tx.commit().await?;
        self.refill.notify_one();
        Ok(id)
    }

    /// Places tenant `id` (catalogued, not yet placed) in a warm slot of the least
    /// loaded shared pool and makes it active, inside the caller's transaction. Call
    /// [`LocalProvisioner::slot_claimed`] after committing.
    pub(crate) async fn place_shared(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        id: Uuid,
        new: &NewTenant,
        actor: &Actor,
    ) -> Result<()> {
        let pool = PoolStatus::list(tx)
            .await?
            .into_iter()
            .find(PoolStatus::has_room)
            .ok_or(Error::NoPoolCapacity)?;
        let pool = PoolName::parse(&pool.name)?;
        let schema = SchemaName::for_tenant(&new.slug);
        let (version, source) = match provision::claim_slot(tx, &pool, &schema).await? {
            Some(version) => (version, "warm_slot"),
            None => (provision::migrate_schema(tx, &schema).await?, "cold"),
        };
        init_salon(tx, &schema, new).await?;
        tx.execute_raw(stmt(
            "UPDATE platform.tenants SET placement_kind = 'shared', pool_name = $2,
                 schema_name = $3, schema_version = $4, status = 'active', updated_at = now()
             WHERE id = $1",
            [
                id.into(),
                pool.as_str().into(),
                schema.as_str().into(),
                version.into(),
            ],
        ))
        .await?;
        let details = json!({ "pool": pool.as_str(), "schema": schema.as_str(), "source": source });
        catalog::record_operation(tx, Some(id), "provision", actor, None, Ok(details.clone()))
            .await?;
        catalog::audit(
            tx,
            actor,
            "tenant.create",
            ("tenant", id.to_string()),
            None,
            Some(details),
        )
        .await?;
        Ok(())
    }

    /// Tells the refill worker a slot was taken (after the claiming transaction commits).
    pub(crate) fn slot_claimed(&self) {
        self.refill.notify_one();
    }

    /// Provisions a tenant that waited for payment: shared plans claim a warm slot,
    /// dedicated plans get their database. The tenant is active when this returns. A
    /// failure leaves it `provisioning` (with the failed operation on record), so it can
    /// be retried.
    #[tracing::instrument(skip(self, actor))]
    pub async fn provision_pending(&self, id: Uuid, actor: &Actor) -> Result<TenantRecord> {
        let tenant = catalog::find_tenant_by_id(&self.db, id)
            .await?
            .ok_or_else(|| Error::TenantNotFound(id.to_string()))?;
        let from: TenantStatus = tenant.status.parse()?;
        if !matches!(
            from,
            TenantStatus::PendingPayment | TenantStatus::Provisioning
        ) {
            return Err(Error::conflict(
                "illegal_transition",
                format!("tenant {} is {from} and cannot be provisioned", tenant.slug),
            ));
        }
        if from == TenantStatus::PendingPayment {
            self.set_status(
                &tenant.slug,
                TenantStatus::Provisioning,
                actor,
                Some("payment confirmed"),
            )
            .await?;
        }
        let new = NewTenant::from_record(&tenant)?;
        match new.plan.tier() {
            Tier::Shared => {
                let tx = self.db.begin().await?;
                self.place_shared(&tx, id, &new, actor).await?;
                tx.commit().await?;
                self.slot_claimed();
            }
            Tier::Dedicated => {
                let database = DatabaseName::for_tenant(&new.slug);
                let schema = SchemaName::for_tenant(&new.slug);
                if let Err(err) = self
                    .place_dedicated(id, &new, &database, &schema, actor)
                    .await
                {
                    tracing::error!(error = %err, "dedicated provisioning failed");
                    let _ = provision::drop_database(&self.db, &database).await;
                    catalog::record_operation(
                        &self.db,
                        Some(id),
                        "provision",
                        actor,
                        None,
                        Err(err.to_string()),
                    )
                    .await?;
                    return Err(err);
                }
            }
        }
        catalog::find_tenant_by_id(&self.db, id)
            .await?
            .ok_or_else(|| Error::TenantNotFound(id.to_string()))
    }

    async fn create_dedicated(&self, new: &NewTenant, actor: &Actor) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let tx = self.db.begin().await?;
        self.insert_tenant(&tx, id, new, TenantStatus::Provisioning)
            .await?;
        tx.commit().await?;

        let database = DatabaseName::for_tenant(&new.slug);
        let schema = SchemaName::for_tenant(&new.slug);
        match self
            .place_dedicated(id, new, &database, &schema, actor)
            .await
        {
            Ok(()) => Ok(id),
            Err(err) => {
                // Leave nothing half made: the database goes, the catalog row goes, and
                // the failure stays on record.
                tracing::error!(error = %err, "dedicated provisioning failed; rolling back");
                let _ = provision::drop_database(&self.db, &database).await;
                self.db
                    .execute_raw(stmt(
                        "DELETE FROM platform.tenants WHERE id = $1",
                        [id.into()],
                    ))
                    .await?;
                catalog::record_operation(
                    &self.db,
                    None,
                    "provision",
                    actor,
                    None,
                    Err(err.to_string()),
                )
                .await?;
                Err(err)
            }
        }
    }

    async fn place_dedicated(
        &self,
        id: Uuid,
        new: &NewTenant,
        database: &DatabaseName,
        schema: &SchemaName,
        actor: &Actor,
    ) -> Result<()> {
        let version = provision::create_database(&self.db, &self.server, database, schema).await?;
        let tenant_db =
            sea_orm::Database::connect(provision::database_url(&self.server, database).as_str())
                .await?;
        let seeded = init_salon(&tenant_db, schema, new).await;
        tenant_db.close().await?;
        seeded?;
        let tx = self.db.begin().await?;
        tx.execute_raw(stmt(
            "UPDATE platform.tenants SET placement_kind = 'dedicated', database_name = $2,
                 schema_name = $3, schema_version = $4, status = 'active', updated_at = now()
             WHERE id = $1",
            [
                id.into(),
                database.as_str().into(),
                schema.as_str().into(),
                version.into(),
            ],
        ))
        .await?;
        let details = json!({ "database": database.as_str(), "schema": schema.as_str() });
        catalog::record_operation(&tx, Some(id), "provision", actor, None, Ok(details.clone()))
            .await?;
        catalog::audit(
            &tx,
            actor,
            "tenant.create",
            ("tenant", id.to_string()),
            None,
            Some(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves a tenant to `to` by hand (suspend, resume), if its lifecycle allows it.
    #[tracing::instrument(skip(self, actor))]
    pub async fn set_status(
        &self,
        slug: &str,
        to: TenantStatus,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<TenantRecord> {
        let tx = self.db.begin().await?;
        set_status_in(&tx, slug, to, actor, reason).await?;
        tx.commit().await?;
        catalog::find_tenant(&self.db, slug)
            .await?
            .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))
    }

    /// Deletes a tenant: it stops being served at once (its hosts are released) and its
    /// data is archived for the retention period, or dropped now with `purge`.
    #[tracing::instrument(skip(self, actor))]
    pub async fn delete_tenant(
        &self,
        slug: &str,
        actor: &Actor,
        reason: Option<&str>,
        purge: bool,
    ) -> Result<TenantRecord> {
        let tenant = catalog::find_tenant(&self.db, slug)
            .await?
            .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
        if tenant.status == TenantStatus::Deleted.as_str() {
            return Err(Error::Conflict {
                code: "illegal_transition",
                message: format!("tenant {slug} is already deleted"),
            });
        }
        let tx = self.db.begin().await?;
        let schema = tenant
            .schema_name
            .as_deref()
            .map(SchemaName::parse)
            .transpose()?;
        let kept = match (tenant.placement_kind.as_str(), &schema) {
            ("shared", Some(schema)) if purge => {
                provision::drop_schema(&tx, schema).await?;
                None
            }
            ("shared", Some(schema)) => {
                Some(provision::archive_schema(&tx, schema).await?.to_string())
            }
            _ => None,
        };
        tx.execute_raw(stmt(
            "DELETE FROM platform.tenant_domains WHERE tenant_id = $1",
            [tenant.id.into()],
        ))
        .await?;
        tx.execute_raw(stmt(
            "UPDATE platform.tenants SET status = 'deleted', schema_name = COALESCE($2, schema_name),
                 updated_at = now() WHERE id = $1",
            [tenant.id.into(), kept.clone().into()],
        ))
        .await?;
        let details = json!({ "archived_as": kept, "purged": purge });
        catalog::record_operation(
            &tx,
            Some(tenant.id),
            "delete",
            actor,
            reason,
            Ok(details.clone()),
        )
        .await?;
        catalog::audit(
            &tx,
            actor,
            "tenant.delete",
            ("tenant", tenant.id.to_string()),
            Some(json!({ "status": tenant.status })),
            Some(details),
        )
        .await?;
        tx.commit().await?;
        if purge
            && tenant.placement_kind == "dedicated"
            && let Some(db) = tenant.database_name.as_deref()
        {
            provision::drop_database(&self.db, &DatabaseName::parse(db)?).await?;
        }
        catalog::find_tenant(&self.db, slug)
            .await?
            .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))
    }
}

/// Writes the salon's first profile row into its fresh schema.
async fn init_salon<C: ConnectionTrait>(
    conn: &C,
    schema: &SchemaName,
    new: &NewTenant,
) -> Result<()> {
    conn.execute_raw(stmt(
        &format!(
            "INSERT INTO {}.salon_settings (name, locale, time_zone)
             VALUES ($1, COALESCE($2, 'es'), COALESCE($3, 'Europe/Madrid'))",
            schema.quoted()
        ),
        [
            new.display_name.clone().into(),
            new.locale.clone().into(),
            new.time_zone.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// [`LocalProvisioner::set_status`] inside the caller's transaction (billing changes the
/// tenant in the transaction that records the Stripe event).
pub async fn set_status_in(
    tx: &sea_orm::DatabaseTransaction,
    slug: &str,
    to: TenantStatus,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<()> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT id, status FROM platform.tenants WHERE slug = $1 FOR UPDATE",
            [slug.into()],
        ))
        .await?
        .ok_or_else(|| Error::TenantNotFound(slug.to_owned()))?;
    let id: Uuid = row.try_get("", "id")?;
    let from: TenantStatus = row.try_get::<String>("", "status")?.parse()?;
    if !from.can_transition_to(to) {
        return Err(Error::Conflict {
            code: "illegal_transition",
            message: format!("tenant {slug} is {from} and cannot become {to}"),
        });
    }
    tx.execute_raw(stmt(
        "UPDATE platform.tenants SET status = $2, updated_at = now() WHERE id = $1",
        [id.into(), to.as_str().into()],
    ))
    .await?;
    let kind = format!("status:{to}");
    catalog::record_operation(
        tx,
        Some(id),
        &kind,
        actor,
        reason,
        Ok(json!({ "from": from, "to": to })),
    )
    .await?;
    catalog::audit(
        tx,
        actor,
        &format!("tenant.{to}"),
        ("tenant", id.to_string()),
        Some(json!({ "status": from })),
        Some(json!({ "status": to, "reason": reason })),
    )
    .await?;
    Ok(())
}
