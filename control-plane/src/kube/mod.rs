//! Kube mode (`PROVISIONER=kube`): the control plane writes desired state as `Tenant`
//! objects and the operator places them; a watch mirrors what the operator reports into
//! the catalog, which the runtime routes from. The local provisioner stays the default.
//!
//! The catalog remains the source of truth for what tenants should exist: a periodic
//! sync re-applies any `Tenant` whose spec differs from the catalog (a failed apply, a
//! domain verified since).

mod mirror;
mod object;

pub use mirror::{Mirrored, mirror_deleted, mirror_status};
pub use object::{
    DomainRow, FIELD_MANAGER, TENANT_ID_ANNOTATION, apply_body, owned_spec_differs, tenant_object,
};

use std::{collections::HashMap, time::Duration};

use futures::StreamExt;
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult, TransactionTrait};
use serde_json::json;
use tenancy::{
    Hostname,
    crd::{SharedPool, Tenant},
};
use uuid::Uuid;

use crate::{
    NewTenant,
    catalog::{self, Actor, TenantRecord, stmt},
};

/// Errors of kube mode.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] Box<kube::Error>),
    #[error(transparent)]
    Catalog(#[from] crate::Error),
    #[error(transparent)]
    Invalid(#[from] tenancy::ValidationError),
}

impl From<kube::Error> for KubeError {
    fn from(err: kube::Error) -> Self {
        KubeError::Kube(Box::new(err))
    }
}

impl From<sea_orm::DbErr> for KubeError {
    fn from(err: sea_orm::DbErr) -> Self {
        KubeError::Catalog(err.into())
    }
}

/// Whether the configuration chose kube mode (`PROVISIONER=kube`).
pub fn configured() -> bool {
    std::env::var("PROVISIONER").is_ok_and(|p| p.eq_ignore_ascii_case("kube"))
}

/// Places tenants through `Tenant` objects.
#[derive(Clone)]
pub struct KubeProvisioner {
    client: Client,
    db: DatabaseConnection,
    base_domain: Hostname,
}

impl std::fmt::Debug for KubeProvisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeProvisioner")
            .field("base_domain", &self.base_domain)
            .finish_non_exhaustive()
    }
}

fn unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl KubeProvisioner {
    pub fn new(client: Client, db: DatabaseConnection, base_domain: Hostname) -> Self {
        Self {
            client,
            db,
            base_domain,
        }
    }

    /// Connects with the in-cluster service account or the local kubeconfig.
    pub async fn connect(db: DatabaseConnection, base_domain: Hostname) -> Result<Self, KubeError> {
        Ok(Self::new(Client::try_default().await?, db, base_domain))
    }

    fn tenants(&self) -> Api<Tenant> {
        Api::all(self.client.clone())
    }

    /// Records the tenant in the catalog as provisioning and hands it to the operator;
    /// it turns active when the operator reports it Ready.
    pub async fn create_tenant(
        &self,
        new: &NewTenant,
        actor: &Actor,
    ) -> Result<TenantRecord, KubeError> {
        let id = Uuid::now_v7();
        let host = Hostname::subdomain(new.slug.as_str(), &self.base_domain)?;
        let tx = self.db.begin().await?;
        let conflict = |code: &'static str, message: String| {
            KubeError::Catalog(crate::Error::Conflict { code, message })
        };
        tx.execute_raw(stmt(
            "INSERT INTO platform.tenants (id, slug, display_name, status, plan_code, desired_tier)
             VALUES ($1, $2, $3, 'provisioning', $4, $5)",
            [
                id.into(),
                new.slug.as_str().into(),
                new.display_name.clone().into(),
                new.plan.as_str().into(),
                new.plan.tier().as_str().into(),
            ],
        ))
        .await
        .map_err(|e| match unique_violation(&e) {
            true => conflict("slug_taken", format!("{} is taken", new.slug)),
            false => e.into(),
        })?;
        tx.execute_raw(stmt(
            "INSERT INTO platform.tenant_domains (id, tenant_id, hostname, kind, verified_at)
             VALUES ($1, $2, $3, 'subdomain', now())",
            [Uuid::now_v7().into(), id.into(), host.as_str().into()],
        ))
        .await
        .map_err(|e| match unique_violation(&e) {
            true => conflict("host_taken", format!("{host} is taken")),
            false => e.into(),
        })?;
        catalog::audit(
            &tx,
            actor,
            "tenant.create",
            ("tenant", id.to_string()),
            None,
            Some(json!({ "provisioner": "kube", "plan": new.plan })),
        )
        .await?;
        tx.commit().await?;
        // Should this apply fail, the tenant stays provisioning and the sync applies it.
        self.apply(new.slug.as_str()).await?;
        Ok(self.record(new.slug.as_str()).await?)
    }

    async fn record(&self, slug: &str) -> Result<TenantRecord, crate::Error> {
        catalog::find_tenant(&self.db, slug)
            .await?
            .ok_or_else(|| crate::Error::TenantNotFound(slug.to_owned()))
    }

    async fn domains(&self, tenant: Uuid) -> Result<Vec<DomainRow>, KubeError> {
        Ok(DomainRow::find_by_statement(stmt(
            "SELECT hostname, kind, verified_at IS NOT NULL AS verified
             FROM platform.tenant_domains WHERE tenant_id = $1 ORDER BY kind DESC, hostname",
            [tenant.into()],
        ))
        .all(&self.db)
        .await?)
    }

    /// The desired `Tenant` for a catalog tenant.
    pub async fn desired(&self, record: &TenantRecord) -> Result<Tenant, KubeError> {
        Ok(tenant_object(record, &self.domains(record.id).await?)?)
    }

    /// Applies the catalog tenant `slug` as a `Tenant` object.
    pub async fn apply(&self, slug: &str) -> Result<(), KubeError> {
        let record = self.record(slug).await?;
        let tenant = self.desired(&record).await?;
        self.tenants()
            .patch(
                slug,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(apply_body(&tenant)),
            )
            .await?;
        tracing::info!(slug, "Tenant applied");
        Ok(())
    }

    /// Stops serving the tenant at once (catalog) and deletes its `Tenant`; the operator
    /// archives a shared schema, or keeps a dedicated namespace for the retention period.
    pub async fn delete_tenant(
        &self,
        slug: &str,
        actor: &Actor,
        reason: Option<&str>,
    ) -> Result<TenantRecord, KubeError> {
        let tenant = self.record(slug).await?;
        if tenant.status == "deleted" {
            return Err(crate::Error::Conflict {
                code: "illegal_transition",
                message: format!("tenant {slug} is already deleted"),
            }
            .into());
        }
        let tx = self.db.begin().await?;
        tx.execute_raw(stmt(
            "DELETE FROM platform.tenant_domains WHERE tenant_id = $1",
            [tenant.id.into()],
        ))
        .await?;
        tx.execute_raw(stmt(
            "UPDATE platform.tenants SET status = 'deleted', updated_at = now() WHERE id = $1",
            [tenant.id.into()],
        ))
        .await?;
        let details = json!({ "provisioner": "kube" });
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
        match self.tenants().delete(slug, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(err) => return Err(err.into()),
        }
        Ok(self.record(slug).await?)
    }

    /// Applies every live catalog tenant whose `Tenant` is missing or differs. Returns
    /// how many were applied.
    pub async fn sync_all(&self) -> Result<u32, KubeError> {
        let existing: HashMap<String, Tenant> = self
            .tenants()
            .list(&ListParams::default())
            .await?
            .into_iter()
            .filter_map(|t| t.metadata.name.clone().map(|n| (n, t)))
            .collect();
        let mut applied = 0;
        for record in catalog::list_tenants(&self.db, None, u64::MAX).await? {
            if record.status == "deleted" {
                continue;
            }
            let desired = self.desired(&record).await?;
            if existing
                .get(&record.slug)
                .is_none_or(|t| owned_spec_differs(t, &desired))
            {
                self.apply(&record.slug).await?;
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Mirrors every Tenant's reported status into the catalog, for as long as it runs.
    pub async fn watch_status(&self) {
        let pools: Api<SharedPool> = Api::all(self.client.clone());
        let mut events = watcher(self.tenants(), watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            let result = match event {
                Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t)) => {
                    let max = match t.placement().and_then(|p| p.pool.as_deref()) {
                        Some(pool) => pools
                            .get_opt(pool)
                            .await
                            .ok()
                            .flatten()
                            .map(|p| p.spec.max_tenants),
                        None => None,
                    };
                    mirror_status(&self.db, &t, max).await.map(|m| {
                        if m != Mirrored::Unchanged {
                            tracing::info!(slug = %t.spec.slug, outcome = ?m, "tenant status mirrored");
                        }
                    })
                }
                Ok(watcher::Event::Delete(t)) => mirror_deleted(&self.db, &t).await,
                Ok(_) => Ok(()),
                Err(err) => {
                    tracing::warn!(error = %err, "Tenant watch interrupted; resuming");
                    Ok(())
                }
            };
            if let Err(err) = result {
                tracing::warn!(error = %err, "mirroring a Tenant failed");
            }
        }
    }
}

/// Kube mode's background work, stopped when dropped.
#[derive(Debug)]
pub struct KubeWorkers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for KubeWorkers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// In kube mode, starts the status mirror and the periodic sync; `None` otherwise.
pub async fn spawn_if_configured(
    db: &DatabaseConnection,
    base_domain: Hostname,
    sync_every: Duration,
) -> Result<Option<KubeWorkers>, KubeError> {
    if !configured() {
        return Ok(None);
    }
    let kube = KubeProvisioner::connect(db.clone(), base_domain).await?;
    tracing::info!("kube mode: tenants are placed by the operator");
    let mirror = kube.clone();
    let watch = tokio::spawn(async move { mirror.watch_status().await });
    let sync = tokio::spawn(async move {
        loop {
            match kube.sync_all().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(applied = n, "Tenants synced from the catalog"),
                Err(err) => tracing::warn!(error = %err, "Tenant sync failed; will retry"),
            }
            tokio::time::sleep(sync_every).await;
        }
    });
    Ok(Some(KubeWorkers(vec![watch, sync])))
}
