//! Against a real cluster: `#[ignore]`d, and skipped unless `KUBECONFIG` is set. They
//! install the CRDs and reconcile throw-away tenants, checking that a real API server
//! accepts every object and status the operator writes. The database side is the
//! recording stand-in: the test runner cannot reach in-cluster databases.
//!
//! ```sh
//! KUBECONFIG=~/.kube/config cargo test -p operator --lib cluster_tests -- --ignored --test-threads=1
//! ```

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::{
        coordination::v1::Lease,
        core::v1::{Namespace, Secret},
        networking::v1::Ingress,
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use tenancy::crd::{Phase, SharedPool, Tenant};

use crate::{
    build::DbFlavor,
    context::Context,
    harness::{RecordingDb, base64, settings},
    leader::{LeaderElector, LeaseSettings},
    metrics::Metrics,
    run::detect_flavor,
    tenant,
};

async fn cluster() -> Option<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("KUBECONFIG is not set: skipping the real-cluster test");
        return None;
    }
    Some(
        Client::try_default()
            .await
            .expect("a client from KUBECONFIG"),
    )
}

fn suffix() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in tenancy::crd::crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("instudio-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        for _ in 0..30 {
            let established = api
                .get(&name)
                .await
                .ok()
                .and_then(|c| c.status)
                .is_some_and(|s| {
                    s.conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let _ = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await;
}

fn context(
    client: &Client,
    ns: &str,
    flavor: DbFlavor,
    retention: Duration,
) -> Arc<Context<RecordingDb>> {
    let mut s = settings(retention);
    s.namespace = ns.into();
    s.build.operator_namespace = ns.into();
    Arc::new(Context::new(
        client.clone(),
        s,
        RecordingDb::default(),
        Arc::new(Metrics::default()),
        flavor,
        None,
    ))
}

async fn reconcile_n(ctx: &Arc<Context<RecordingDb>>, name: &str, n: usize) {
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    for _ in 0..n {
        let t = api.get(name).await.expect("tenant");
        tenant::reconcile(Arc::new(t), ctx.clone())
            .await
            .expect("reconcile");
    }
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG)"]
async fn shared_tenant_reconciles_on_a_real_api_server() {
    let Some(client) = cluster().await else {
        return;
    };
    install_crds(&client).await;
    let ns = format!("instudio-test-{}", suffix());
    namespace(&client, &ns).await;
    let pool = format!("pool-{}", suffix());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": format!("{pool}-db"), "namespace": ns},
        "data": {"url": base64("postgres://u:p@db:5432/shared_db")}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let pools: Api<SharedPool> = Api::all(client.clone());
    let sp: SharedPool = serde_json::from_value(json!({
        "apiVersion": "instudio.io/v1alpha1", "kind": "SharedPool",
        "metadata": {"name": pool},
        "spec": {"connectionSecret": {"name": format!("{pool}-db")}, "maxTenants": 10, "warmSlots": 1}
    }))
    .unwrap();
    pools.create(&PostParams::default(), &sp).await.unwrap();
    let ctx = context(&client, &ns, DbFlavor::BuiltIn, Duration::ZERO);
    crate::pool::reconcile(Arc::new(pools.get(&pool).await.unwrap()), ctx.clone())
        .await
        .unwrap();
    assert!(pools.get(&pool).await.unwrap().accepts_tenants());

    let slug = format!("salon-{}", suffix());
    let tenants: Api<Tenant> = Api::all(client.clone());
    let t: Tenant = serde_json::from_value(json!({
        "apiVersion": "instudio.io/v1alpha1", "kind": "Tenant", "metadata": {"name": slug},
        "spec": {"slug": slug, "displayName": "Cluster Test", "plan": "starter", "tier": "shared",
                 "domains": [{"hostname": format!("{slug}.example.org"), "kind": "custom", "verified": true}]}
    }))
    .unwrap();
    tenants.create(&PostParams::default(), &t).await.unwrap();
    reconcile_n(&ctx, &slug, 2).await;
    let placed = tenants.get(&slug).await.unwrap();
    assert_eq!(placed.phase(), Some(Phase::Ready));
    let ingress = Api::<Ingress>::namespaced(client.clone(), &ns)
        .get(&format!("tenant-{slug}"))
        .await
        .unwrap();
    let before = (placed.resource_version(), ingress.resource_version());
    reconcile_n(&ctx, &slug, 1).await;
    let after = (
        tenants.get(&slug).await.unwrap().resource_version(),
        Api::<Ingress>::namespaced(client.clone(), &ns)
            .get(&format!("tenant-{slug}"))
            .await
            .unwrap()
            .resource_version(),
    );
    assert_eq!(before, after, "a settled tenant's reconcile writes nothing");

    tenants
        .delete(&slug, &DeleteParams::default())
        .await
        .unwrap();
    reconcile_n(&ctx, &slug, 1).await;
    assert!(tenants.get_opt(&slug).await.unwrap().is_none());
    pools.delete(&pool, &DeleteParams::default()).await.unwrap();
    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG)"]
async fn dedicated_tenant_objects_are_accepted_and_removed() {
    let Some(client) = cluster().await else {
        return;
    };
    install_crds(&client).await;
    let flavor = detect_flavor(&client).await;
    let ns = format!("instudio-test-{}", suffix());
    namespace(&client, &ns).await;
    let ctx = context(&client, &ns, flavor, Duration::ZERO);
    let slug = format!("ded-{}", suffix());
    let tenants: Api<Tenant> = Api::all(client.clone());
    let t: Tenant = serde_json::from_value(json!({
        "apiVersion": "instudio.io/v1alpha1", "kind": "Tenant", "metadata": {"name": slug},
        "spec": {"slug": slug, "displayName": "Dedicated Test", "plan": "premium", "tier": "dedicated",
                 "domains": [{"hostname": format!("{slug}.example.org"), "kind": "custom", "verified": true}]}
    }))
    .unwrap();
    tenants.create(&PostParams::default(), &t).await.unwrap();
    reconcile_n(&ctx, &slug, 2).await;
    let tenant_ns = format!("tenant-{slug}");
    assert!(
        Api::<Namespace>::all(client.clone())
            .get_opt(&tenant_ns)
            .await
            .unwrap()
            .is_some()
    );
    let ingress = Api::<Ingress>::namespaced(client.clone(), &tenant_ns)
        .get("tenant-runtime")
        .await
        .unwrap();
    assert_eq!(ingress.labels()["instudio.io/tenant"], slug);
    assert_eq!(
        tenants.get(&slug).await.unwrap().phase(),
        Some(Phase::Provisioning)
    );

    tenants
        .delete(&slug, &DeleteParams::default())
        .await
        .unwrap();
    reconcile_n(&ctx, &slug, 1).await;
    assert!(tenants.get_opt(&slug).await.unwrap().is_none());
    let gone = Api::<Namespace>::all(client.clone())
        .get_opt(&tenant_ns)
        .await
        .unwrap()
        .is_none_or(|n| n.metadata.deletion_timestamp.is_some());
    assert!(gone, "the namespace is being removed");
    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG)"]
async fn leader_election_uses_a_real_lease() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = format!("instudio-test-{}", suffix());
    namespace(&client, &ns).await;
    let mut a = LeaderElector::new(client.clone(), LeaseSettings::new(&ns, "a".into()));
    let mut b = LeaderElector::new(client.clone(), LeaseSettings::new(&ns, "b".into()));
    assert!(a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    a.release().await.unwrap();
    assert!(b.try_acquire_or_renew().await.unwrap());
    let lease = Api::<Lease>::namespaced(client.clone(), &ns)
        .get("instudio-operator")
        .await
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("b"));
    Api::<Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
}
