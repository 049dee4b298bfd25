//! Scenario harness: a fake API server, a recording stand-in for the databases (the
//! real ones are exercised against PostgreSQL in `tests/operator_shared.rs`), and
//! helpers to seed and reconcile objects.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::runtime::controller::Action;
use migrations::TenantMigrator;
use serde_json::{Value, json};
use tenancy::{SchemaName, crd::Tenant};

use crate::{
    Result,
    build::DbFlavor,
    config::Settings,
    context::Context,
    db::{Databases, PoolReport, PoolTarget, SecretUrl, SlotSource},
    fake_api::FakeApi,
    fixtures::build_config,
    metrics::Metrics,
    tenant,
};

/// A database call the reconcilers made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCall {
    PreparePool {
        pool: String,
        max: i32,
        warm: i32,
    },
    SchemaExists {
        pool: String,
        schema: String,
    },
    PlaceShared {
        pool: String,
        schema: String,
        name: String,
    },
    MigrateShared {
        pool: String,
        schema: String,
    },
    ArchiveShared {
        pool: String,
        schema: String,
    },
    MigrateDedicated {
        url: String,
        schema: String,
    },
}

/// Records calls and keeps which schemas exist where, answering as PostgreSQL would.
#[derive(Debug, Clone, Default)]
pub struct RecordingDb {
    pub calls: Arc<Mutex<Vec<DbCall>>>,
    schemas: Arc<Mutex<BTreeSet<(String, String)>>>,
}

impl RecordingDb {
    pub fn calls(&self) -> Vec<DbCall> {
        self.calls.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }

    fn record(&self, call: DbCall) {
        self.calls.lock().unwrap().push(call);
    }

    pub fn has_schema(&self, pool: &str, schema: &str) -> bool {
        self.schemas
            .lock()
            .unwrap()
            .contains(&(pool.into(), schema.into()))
    }

    pub fn add_schema(&self, pool: &str, schema: &str) {
        self.schemas
            .lock()
            .unwrap()
            .insert((pool.into(), schema.into()));
    }
}

impl Databases for RecordingDb {
    async fn prepare_pool(&self, pool: &PoolTarget, max: i32, warm: i32) -> Result<PoolReport> {
        self.record(DbCall::PreparePool {
            pool: pool.name.to_string(),
            max,
            warm,
        });
        Ok(PoolReport {
            ready_slots: i64::from(warm),
            created: 0,
        })
    }

    async fn schema_exists(&self, pool: &PoolTarget, schema: &SchemaName) -> Result<bool> {
        self.record(DbCall::SchemaExists {
            pool: pool.name.to_string(),
            schema: schema.to_string(),
        });
        Ok(self.has_schema(pool.name.as_str(), schema.as_str()))
    }

    async fn place_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
        name: &str,
    ) -> Result<(String, SlotSource)> {
        self.record(DbCall::PlaceShared {
            pool: pool.name.to_string(),
            schema: schema.to_string(),
            name: name.into(),
        });
        self.add_schema(pool.name.as_str(), schema.as_str());
        Ok((TenantMigrator::latest_version(), SlotSource::WarmSlot))
    }

    async fn migrate_shared(&self, pool: &PoolTarget, schema: &SchemaName) -> Result<String> {
        self.record(DbCall::MigrateShared {
            pool: pool.name.to_string(),
            schema: schema.to_string(),
        });
        Ok(TenantMigrator::latest_version())
    }

    async fn archive_shared(
        &self,
        pool: &PoolTarget,
        schema: &SchemaName,
    ) -> Result<Option<SchemaName>> {
        self.record(DbCall::ArchiveShared {
            pool: pool.name.to_string(),
            schema: schema.to_string(),
        });
        let removed = self
            .schemas
            .lock()
            .unwrap()
            .remove(&(pool.name.to_string(), schema.to_string()));
        Ok(removed.then(|| schema.archived(1_800_000_000)))
    }

    async fn migrate_dedicated(
        &self,
        url: &SecretUrl,
        schema: &SchemaName,
        _name: &str,
    ) -> Result<String> {
        self.record(DbCall::MigrateDedicated {
            url: url.expose().into(),
            schema: schema.to_string(),
        });
        Ok(TenantMigrator::latest_version())
    }
}

pub fn settings(retention: Duration) -> Settings {
    Settings {
        build: build_config(),
        namespace: "instudio".into(),
        retention,
    }
}

/// A fake cluster with its client, and a context reconciling against it.
pub struct Harness<D> {
    pub api: FakeApi,
    pub ctx: Arc<Context<D>>,
    pub db: D,
}

impl<D: Databases + Clone> Harness<D> {
    pub fn with(db: D, flavor: DbFlavor, retention: Duration) -> Self {
        let (client, api) = FakeApi::start();
        let ctx = Arc::new(Context::new(
            client,
            settings(retention),
            db.clone(),
            Arc::new(Metrics::default()),
            flavor,
            None,
        ));
        Self { api, ctx, db }
    }

    pub fn tenant(&self, name: &str) -> Option<Tenant> {
        self.api
            .get("instudio.io/v1alpha1", "tenants", None, name)
            .map(|v| serde_json::from_value(v).unwrap())
    }

    /// Reconciles the tenant as stored now, the way the controller would.
    pub async fn reconcile(&self, name: &str) -> Result<Action> {
        let tenant = self.tenant(name).expect("tenant exists");
        tenant::reconcile(Arc::new(tenant), self.ctx.clone()).await
    }

    /// Reconciles until the finalizer is on and one full pass ran.
    pub async fn settle(&self, name: &str) -> Action {
        self.reconcile(name).await.unwrap();
        self.reconcile(name).await.unwrap()
    }

    pub fn add_tenant(&self, yaml: &str) {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        self.api.insert("tenants", value);
    }

    /// A ready SharedPool `name` whose secret points at `url`.
    pub fn add_pool(&self, name: &str, url: &str, max: i32) {
        self.api.insert(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": format!("{name}-db"), "namespace": "instudio"},
                   "data": {"url": base64(url)}}),
        );
        self.api.insert(
            "sharedpools",
            json!({"apiVersion": "instudio.io/v1alpha1", "kind": "SharedPool",
                   "metadata": {"name": name, "uid": format!("pool-{name}"), "generation": 1},
                   "spec": {"connectionSecret": {"name": format!("{name}-db"), "key": "url"},
                            "maxTenants": max, "warmSlots": 2},
                   "status": {"database": "shared_db", "tenants": 0, "readySlots": 2,
                              "conditions": [{"type": "Ready", "status": "True", "reason": "PoolReady",
                                              "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        );
    }

    pub fn delete_tenant(&self, name: &str) {
        let mut t = self
            .api
            .get("instudio.io/v1alpha1", "tenants", None, name)
            .unwrap();
        t["metadata"]["deletionTimestamp"] = json!(k8s_openapi::jiff::Timestamp::now().to_string());
        self.api.insert("tenants", t);
    }
}

pub fn base64(raw: &str) -> String {
    serde_json::to_value(k8s_openapi::ByteString(raw.as_bytes().to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}
