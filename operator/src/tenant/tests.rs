//! Reconcile scenarios against the fake API server (`tower_test::mock::pair`).

use std::time::Duration;

use http::Method;
use migrations::TenantMigrator;
use serde_json::json;
use tenancy::crd::{Phase, condition};

use crate::{
    build::DbFlavor,
    fixtures::{DEDICATED_TENANT, SHARED_TENANT},
    harness::{DbCall, Harness, RecordingDb},
    run::detect_flavor,
};

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
const POOL_URL: &str = "postgres://pool:pw@shared-1.db:5432/shared_db";

fn shared() -> Harness<RecordingDb> {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_pool("shared-1", POOL_URL, 100);
    h.add_tenant(SHARED_TENANT);
    h
}

fn condition_of(h: &Harness<RecordingDb>, name: &str, type_: &str) -> (String, String) {
    let t = h.tenant(name).unwrap();
    let c = t
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no condition {type_}"));
    (c.status, c.reason)
}

#[tokio::test]
async fn first_reconcile_of_a_shared_tenant_claims_a_slot_and_records_the_placement() {
    let h = shared();
    // The first pass only puts the finalizer on (a JSON patch), nothing else.
    h.reconcile("bella-spa").await.unwrap();
    let writes = h.api.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, Method::PATCH);
    let t = h.tenant("bella-spa").unwrap();
    assert_eq!(
        t.metadata.finalizers.unwrap(),
        ["instudio.io/tenant-cleanup"]
    );

    h.reconcile("bella-spa").await.unwrap();
    assert!(h.db.calls().contains(&DbCall::PlaceShared {
        pool: "shared-1".into(),
        schema: "t_bella_spa".into(),
        name: "Bella Spa".into(),
    }));
    let status = h.tenant("bella-spa").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Ready));
    let placement = status.placement.unwrap();
    assert_eq!(placement.pool.as_deref(), Some("shared-1"));
    assert_eq!(
        placement.database, "shared_db",
        "the pool's database, from its secret"
    );
    assert_eq!(placement.schema, "t_bella_spa");
    assert_eq!(
        status.schema_version,
        Some(TenantMigrator::latest_version())
    );
    assert_eq!(status.observed_generation, Some(1));
    for c in [
        condition::DATABASE_READY,
        condition::MIGRATIONS_APPLIED,
        condition::RUNTIME_READY,
        condition::ROUTED,
    ] {
        assert_eq!(condition_of(&h, "bella-spa", c).0, "True", "{c}");
    }
    // The verified custom domain is routed to the shared runtime.
    let ingress = h
        .api
        .get(
            "networking.k8s.io/v1",
            "ingresses",
            Some("instudio"),
            "tenant-bella-spa",
        )
        .expect("custom-domain Ingress");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "book.bellaspa.com");
    assert_eq!(
        ingress["metadata"]["labels"]["instudio.io/tenant"],
        "bella-spa"
    );
    let reasons = h.api.event_reasons();
    for r in ["Placed", "Applied", "Ready"] {
        assert!(reasons.iter().any(|e| e == r), "{r} in {reasons:?}");
    }
    // Every apply is a server-side apply by the one field manager.
    for call in h
        .api
        .writes()
        .iter()
        .filter(|c| c.path.contains("/ingresses/"))
    {
        assert!(
            call.query.contains("fieldManager=instudio-operator"),
            "{call:?}"
        );
        assert!(call.query.contains("force=true"), "{call:?}");
    }
}

#[tokio::test]
async fn second_reconcile_of_a_settled_tenant_writes_nothing() {
    for (yaml, name, flavor) in [
        (SHARED_TENANT, "bella-spa", DbFlavor::BuiltIn),
        (DEDICATED_TENANT, "acme", DbFlavor::BuiltIn),
        (DEDICATED_TENANT, "acme", DbFlavor::CloudNativePg),
    ] {
        let h = Harness::with(RecordingDb::default(), flavor, WEEK);
        h.add_pool("shared-1", POOL_URL, 100);
        h.add_tenant(yaml);
        h.settle(name).await;
        if name == "acme" {
            make_dedicated_ready(&h, flavor);
            h.reconcile(name).await.unwrap();
            assert_eq!(
                h.tenant(name).unwrap().status.unwrap().phase,
                Some(Phase::Ready)
            );
        }
        h.api.clear_calls();
        h.db.clear();
        h.reconcile(name).await.unwrap();
        assert_eq!(h.api.writes(), vec![], "{name} {flavor:?}: no write at all");
        assert!(h.api.calls().iter().all(|c| c.method == Method::GET));
        let migrations =
            h.db.calls()
                .into_iter()
                .filter(|c| !matches!(c, DbCall::SchemaExists { .. }))
                .collect::<Vec<_>>();
        assert_eq!(migrations, vec![], "nothing to migrate or place again");
    }
}

fn make_dedicated_ready(h: &Harness<RecordingDb>, flavor: DbFlavor) {
    match flavor {
        DbFlavor::BuiltIn => h.api.set_status(
            "apps/v1",
            "statefulsets",
            Some("tenant-acme"),
            "tenant-db",
            json!({"replicas": 1, "readyReplicas": 1}),
        ),
        DbFlavor::CloudNativePg => h.api.set_status(
            "postgresql.cnpg.io/v1",
            "clusters",
            Some("tenant-acme"),
            "tenant-db",
            json!({"instances": 1, "readyInstances": 1, "phase": "Cluster in healthy state"}),
        ),
    }
    h.api.set_status(
        "apps/v1",
        "deployments",
        Some("tenant-acme"),
        "tenant-runtime",
        json!({"replicas": 2, "availableReplicas": 2}),
    );
}

#[tokio::test]
async fn first_reconcile_of_a_dedicated_tenant_builds_its_namespace_then_migrates_once_ready() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.settle("acme").await;

    for (api, plural, ns, name) in [
        ("v1", "namespaces", None, "tenant-acme"),
        ("v1", "resourcequotas", Some("tenant-acme"), "tenant-quota"),
        ("v1", "limitranges", Some("tenant-acme"), "tenant-limits"),
        (
            "networking.k8s.io/v1",
            "networkpolicies",
            Some("tenant-acme"),
            "default-deny-ingress",
        ),
        (
            "v1",
            "secrets",
            Some("tenant-acme"),
            "tenant-db-credentials",
        ),
        ("v1", "secrets", Some("tenant-acme"), "tenant-runtime-env"),
        ("v1", "services", Some("tenant-acme"), "tenant-db"),
        ("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db"),
        (
            "apps/v1",
            "deployments",
            Some("tenant-acme"),
            "tenant-runtime",
        ),
        (
            "networking.k8s.io/v1",
            "ingresses",
            Some("tenant-acme"),
            "tenant-runtime",
        ),
    ] {
        assert!(
            h.api.get(api, plural, ns, name).is_some(),
            "{plural} {name}"
        );
    }
    // The database is not ready yet: nothing migrated, no placement recorded.
    assert!(h.db.calls().is_empty(), "{:?}", h.db.calls());
    let status = h.tenant("acme").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Provisioning));
    assert_eq!(status.placement, None);
    assert_eq!(
        condition_of(&h, "acme", condition::DATABASE_READY),
        ("False".into(), "WaitingForDatabase".into())
    );
    assert_eq!(condition_of(&h, "acme", condition::ROUTED).0, "True");

    let password = h
        .api
        .get(
            "v1",
            "secrets",
            Some("tenant-acme"),
            "tenant-db-credentials",
        )
        .unwrap()["data"]["password"]
        .clone();
    make_dedicated_ready(&h, DbFlavor::BuiltIn);
    h.reconcile("acme").await.unwrap();
    let calls = h.db.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let DbCall::MigrateDedicated { url, schema } = &calls[0] else {
        panic!("{calls:?}")
    };
    assert!(
        url.contains("@tenant-db.tenant-acme.svc:5432/tdb_acme"),
        "{url}"
    );
    assert_eq!(schema, "t_acme");
    let status = h.tenant("acme").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Ready));
    let placement = status.placement.unwrap();
    assert_eq!(placement.database, "tdb_acme");
    assert_eq!(placement.namespace.as_deref(), Some("tenant-acme"));
    assert_eq!(placement.database_service.as_deref(), Some("tenant-db"));
    assert_eq!(
        placement.secret_name.as_deref(),
        Some("tenant-db-credentials")
    );
    // The generated password is made once and kept.
    let again = h
        .api
        .get(
            "v1",
            "secrets",
            Some("tenant-acme"),
            "tenant-db-credentials",
        )
        .unwrap();
    assert_eq!(again["data"]["password"], password);
    assert!(h.api.event_reasons().iter().any(|r| r == "Migrated"));
}

#[tokio::test]
async fn cloudnativepg_is_used_when_its_crd_is_installed_and_not_otherwise() {
    let (client, api) = crate::fake_api::FakeApi::start();
    assert_eq!(detect_flavor(&client).await, DbFlavor::BuiltIn);
    api.serve_group("postgresql.cnpg.io/v1");
    assert_eq!(detect_flavor(&client).await, DbFlavor::CloudNativePg);

    let h = Harness::with(RecordingDb::default(), DbFlavor::CloudNativePg, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.settle("acme").await;
    let cluster = h
        .api
        .get(
            "postgresql.cnpg.io/v1",
            "clusters",
            Some("tenant-acme"),
            "tenant-db",
        )
        .expect("a CloudNativePG Cluster");
    assert_eq!(
        cluster["spec"]["bootstrap"]["initdb"]["secret"]["name"],
        "tenant-db-credentials"
    );
    assert!(
        h.api
            .get("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db")
            .is_none()
    );
    assert!(
        h.api
            .get("v1", "services", Some("tenant-acme"), "tenant-db")
            .is_none(),
        "CNPG makes its own"
    );
    make_dedicated_ready(&h, DbFlavor::CloudNativePg);
    h.reconcile("acme").await.unwrap();
    let DbCall::MigrateDedicated { url, .. } = &h.db.calls()[0] else {
        panic!()
    };
    assert!(url.contains("@tenant-db-rw.tenant-acme.svc:5432/"), "{url}");
    let placement = h.tenant("acme").unwrap().status.unwrap().placement.unwrap();
    assert_eq!(placement.database_service.as_deref(), Some("tenant-db-rw"));

    // Without CloudNativePG the built-in StatefulSet serves the same tenant.
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.settle("acme").await;
    assert!(
        h.api
            .get("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db")
            .is_some()
    );
    assert!(h.api.list("postgresql.cnpg.io/v1", "clusters").is_empty());
    assert!(
        h.api
            .calls()
            .iter()
            .all(|c| !c.path.contains("postgresql.cnpg.io")),
        "never touches a kind the cluster does not serve"
    );
}

#[tokio::test]
async fn an_api_error_midway_fails_the_reconcile_and_the_retry_finishes_the_job() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.reconcile("acme").await.unwrap(); // finalizer
    h.api
        .fail_once(Method::PATCH, "/deployments/tenant-runtime", 500);
    let err = h.reconcile("acme").await.unwrap_err();
    assert_eq!(err.category(), "kubernetes");
    // What came before the failure is there; what came after is not; no status yet.
    assert!(
        h.api
            .get("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db")
            .is_some()
    );
    assert!(
        h.api
            .get(
                "apps/v1",
                "deployments",
                Some("tenant-acme"),
                "tenant-runtime"
            )
            .is_none()
    );
    assert!(
        h.api
            .get(
                "networking.k8s.io/v1",
                "ingresses",
                Some("tenant-acme"),
                "tenant-runtime"
            )
            .is_none()
    );
    assert!(h.tenant("acme").unwrap().status.is_none());
    assert!(h.api.event_reasons().iter().any(|r| r == "ReconcileFailed"));

    // error_policy backs off exponentially and counts the failure by category.
    let tenant = std::sync::Arc::new(h.tenant("acme").unwrap());
    let first = super::error_policy(tenant.clone(), &err, h.ctx.clone());
    let second = super::error_policy(tenant.clone(), &err, h.ctx.clone());
    assert_eq!(
        first,
        kube::runtime::controller::Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(
        second,
        kube::runtime::controller::Action::requeue(Duration::from_secs(10))
    );
    let metrics = h.ctx.metrics.encode();
    assert!(
        metrics.contains(r#"instudio_operator_reconcile_failures_total{controller="tenant",category="kubernetes"} 2"#),
        "{metrics}"
    );

    h.api.clear_calls();
    h.reconcile("acme").await.unwrap();
    let applied: Vec<String> = h.api.writes().iter().map(|c| c.path.clone()).collect();
    assert!(
        applied
            .iter()
            .any(|p| p.ends_with("/deployments/tenant-runtime")),
        "{applied:?}"
    );
    assert!(
        applied
            .iter()
            .any(|p| p.ends_with("/ingresses/tenant-runtime")),
        "{applied:?}"
    );
    assert!(
        !applied
            .iter()
            .any(|p| p.ends_with("/statefulsets/tenant-db")
                || p.ends_with("/namespaces/tenant-acme")),
        "what was applied before the failure is not applied again: {applied:?}"
    );
    assert_eq!(
        h.tenant("acme").unwrap().status.unwrap().phase,
        Some(Phase::Provisioning)
    );
    // Success resets the backoff.
    let next = super::error_policy(tenant, &err, h.ctx.clone());
    assert_eq!(
        next,
        kube::runtime::controller::Action::requeue(Duration::from_secs(5))
    );
}

#[tokio::test]
async fn deleting_a_shared_tenant_archives_its_schema_through_the_finalizer() {
    let h = shared();
    h.settle("bella-spa").await;
    assert!(h.db.has_schema("shared-1", "t_bella_spa"));
    h.delete_tenant("bella-spa");
    h.db.clear();
    h.reconcile("bella-spa").await.unwrap();
    assert_eq!(
        h.db.calls(),
        vec![DbCall::ArchiveShared {
            pool: "shared-1".into(),
            schema: "t_bella_spa".into()
        }]
    );
    assert!(
        h.api
            .get(
                "networking.k8s.io/v1",
                "ingresses",
                Some("instudio"),
                "tenant-bella-spa"
            )
            .is_none()
    );
    assert!(
        h.tenant("bella-spa").is_none(),
        "finalizer removed, tenant gone"
    );
    assert!(h.api.event_reasons().iter().any(|r| r == "SchemaArchived"));
}

#[tokio::test]
async fn deleting_a_dedicated_tenant_stops_serving_and_removes_the_namespace_after_retention() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.settle("acme").await;
    make_dedicated_ready(&h, DbFlavor::BuiltIn);
    h.reconcile("acme").await.unwrap();
    h.delete_tenant("acme");

    let action = h.reconcile("acme").await.unwrap();
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(Duration::from_secs(3600))
    );
    assert!(
        h.api
            .get(
                "apps/v1",
                "deployments",
                Some("tenant-acme"),
                "tenant-runtime"
            )
            .is_none()
    );
    assert!(
        h.api
            .get(
                "networking.k8s.io/v1",
                "ingresses",
                Some("tenant-acme"),
                "tenant-runtime"
            )
            .is_none()
    );
    assert!(
        h.api
            .get("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db")
            .is_some(),
        "data kept"
    );
    assert!(h.api.get("v1", "namespaces", None, "tenant-acme").is_some());
    let status = h
        .tenant("acme")
        .expect("held by the finalizer")
        .status
        .unwrap();
    assert_eq!(status.phase, Some(Phase::Deleting));
    assert!(status.delete_after.is_some());
    h.api.clear_calls();
    h.reconcile("acme").await.unwrap();
    assert_eq!(h.api.writes(), vec![], "waiting writes nothing");

    // Once the retention period is over, the namespace goes and the tenant with it.
    let over = Harness {
        api: h.api.clone(),
        db: h.db.clone(),
        ctx: std::sync::Arc::new(crate::context::Context::new(
            h.ctx.client.clone(),
            crate::harness::settings(Duration::ZERO),
            h.db.clone(),
            h.ctx.metrics.clone(),
            DbFlavor::BuiltIn,
            None,
        )),
    };
    over.reconcile("acme").await.unwrap();
    assert!(
        over.api
            .get("v1", "namespaces", None, "tenant-acme")
            .is_none()
    );
    assert!(over.tenant("acme").is_none());
    assert!(
        over.api
            .event_reasons()
            .iter()
            .any(|r| r == "NamespaceRemoved")
    );
}

#[tokio::test]
async fn a_tier_change_requests_a_move_and_keeps_serving_from_the_current_placement() {
    let h = shared();
    h.settle("bella-spa").await;
    let mut t = h
        .api
        .get("instudio.io/v1alpha1", "tenants", None, "bella-spa")
        .unwrap();
    t["spec"]["tier"] = json!("dedicated");
    t["spec"]["plan"] = json!("premium");
    t["metadata"]["generation"] = json!(2);
    h.api.insert("tenants", t);
    h.reconcile("bella-spa").await.unwrap();
    let status = h.tenant("bella-spa").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Moving));
    assert_eq!(status.move_to, Some(tenancy::Tier::Dedicated));
    assert_eq!(
        status.placement.unwrap().pool.as_deref(),
        Some("shared-1"),
        "still shared"
    );
    assert_eq!(
        condition_of(&h, "bella-spa", condition::TIER_MOVE),
        ("True".into(), "TierMoveRequested".into())
    );
    assert!(
        h.api
            .get("v1", "namespaces", None, "tenant-bella-spa")
            .is_none(),
        "no dedicated objects yet"
    );
    assert!(
        h.api
            .event_reasons()
            .iter()
            .any(|r| r == "TierMoveRequested")
    );
}

#[tokio::test]
async fn an_invalid_spec_fails_without_touching_anything() {
    let h = shared();
    let mut t = h
        .api
        .get("instudio.io/v1alpha1", "tenants", None, "bella-spa")
        .unwrap();
    t["spec"]["domains"][1]["hostname"] = json!("not a host");
    h.api.insert("tenants", t);
    h.settle("bella-spa").await;
    let status = h.tenant("bella-spa").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(
        condition_of(&h, "bella-spa", "SpecValid"),
        ("False".into(), "InvalidSpec".into())
    );
    assert!(h.db.calls().is_empty());
    assert!(h.api.list("networking.k8s.io/v1", "ingresses").is_empty());
    assert!(h.api.event_reasons().iter().any(|r| r == "InvalidSpec"));
}

#[tokio::test]
async fn a_paused_tenant_is_left_as_it_is() {
    let h = shared();
    let mut t = h
        .api
        .get("instudio.io/v1alpha1", "tenants", None, "bella-spa")
        .unwrap();
    t["spec"]["paused"] = json!(true);
    h.api.insert("tenants", t);
    h.settle("bella-spa").await;
    assert_eq!(
        h.tenant("bella-spa").unwrap().status.unwrap().phase,
        Some(Phase::Suspended)
    );
    assert!(h.db.calls().is_empty());
    assert!(h.api.list("networking.k8s.io/v1", "ingresses").is_empty());
}

#[tokio::test]
async fn new_tenants_go_to_the_pool_with_most_room_and_full_pools_are_skipped() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_pool("shared-1", POOL_URL, 1);
    h.add_pool(
        "shared-2",
        "postgres://pool:pw@shared-2.db:5432/shared_two",
        50,
    );
    h.add_tenant(SHARED_TENANT);
    h.settle("bella-spa").await;
    let placement = h
        .tenant("bella-spa")
        .unwrap()
        .status
        .unwrap()
        .placement
        .unwrap();
    assert_eq!(placement.pool.as_deref(), Some("shared-2"));
    assert_eq!(placement.database, "shared_two");

    // A crash after a claim but before the status write: the schema is adopted, not
    // placed a second time.
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_pool("shared-1", POOL_URL, 10);
    h.add_tenant(SHARED_TENANT);
    h.db.add_schema("shared-1", "t_bella_spa");
    h.settle("bella-spa").await;
    assert!(
        !h.db
            .calls()
            .iter()
            .any(|c| matches!(c, DbCall::PlaceShared { .. }))
    );
    assert!(h.db.calls().contains(&DbCall::MigrateShared {
        pool: "shared-1".into(),
        schema: "t_bella_spa".into()
    }));
}

#[tokio::test]
async fn a_storage_override_never_rewrites_the_built_in_databases_claim_templates() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, WEEK);
    h.add_tenant(DEDICATED_TENANT);
    h.settle("acme").await;
    let claims = |h: &Harness<RecordingDb>| {
        h.api
            .get("apps/v1", "statefulsets", Some("tenant-acme"), "tenant-db")
            .unwrap()["spec"]["volumeClaimTemplates"]
            .clone()
    };
    let before = claims(&h);
    let mut t = h
        .api
        .get("instudio.io/v1alpha1", "tenants", None, "acme")
        .unwrap();
    t["spec"]["resources"] = json!({"storage": "80Gi", "replicas": 3});
    t["metadata"]["generation"] = json!(3);
    h.api.insert("tenants", t);
    h.reconcile("acme").await.unwrap();
    assert_eq!(claims(&h), before, "immutable once created");
    let d = h
        .api
        .get(
            "apps/v1",
            "deployments",
            Some("tenant-acme"),
            "tenant-runtime",
        )
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 3, "the rest of the override applies");
    let quota = h
        .api
        .get("v1", "resourcequotas", Some("tenant-acme"), "tenant-quota")
        .unwrap();
    assert_eq!(quota["spec"]["hard"]["requests.storage"], "80Gi");
}
