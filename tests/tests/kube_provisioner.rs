//! The control plane's kube mode: tenants are recorded in the catalog and applied as
//! `Tenant` objects (to a mocked API server), and what the operator reports on them is
//! mirrored into a real catalog.

// Test helpers fail loudly: a broken fixture should stop the test at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use control_plane::{
    NewTenant,
    catalog::{Actor, find_tenant},
    kube::{KubeProvisioner, Mirrored, mirror_deleted, mirror_status},
};
use http::{Request, Response};
use instudio_tests::{BASE_DOMAIN, TestDb};
use kube::{Client, client::Body};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tenancy::{Hostname, crd::Tenant};

type Log = Arc<Mutex<Vec<(String, String, Value)>>>;

/// An API server that accepts every request, echoing applied objects back.
fn mock_api() -> (Client, Log) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let method = request.method().to_string();
            let uri = request.uri().to_string();
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let mut reply = body.clone();
            if method == "DELETE" {
                reply = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Success", "code": 200});
            } else if method == "PATCH" {
                reply["metadata"]["uid"] = json!("uid-1");
                reply["metadata"]["resourceVersion"] = json!("1");
            }
            seen.lock().unwrap().push((method, uri, body));
            respond.send_response(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            );
        }
    });
    (Client::new(service, "default"), log)
}

async fn catalog() -> (TestDb, sea_orm::DatabaseConnection) {
    let db = TestDb::create().await;
    let conn = db.connect().await;
    tenancy::provision::migrate_platform(&conn).await.unwrap();
    (db, conn)
}

fn reported(slug: &str, status: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "instudio.io/v1alpha1", "kind": "Tenant",
        "metadata": {"name": slug},
        "spec": {"slug": slug, "displayName": "Salon", "plan": "starter", "tier": "shared"},
        "status": status,
    }))
    .unwrap()
}

async fn column(db: &sea_orm::DatabaseConnection, sql: &str) -> Option<String> {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .and_then(|row| row.try_get_by_index::<Option<String>>(0).unwrap())
}

#[tokio::test]
async fn kube_mode_records_applies_mirrors_and_deletes() {
    let (_db, conn) = catalog().await;
    let (client, log) = mock_api();
    let kube = KubeProvisioner::new(client, conn.clone(), Hostname::parse(BASE_DOMAIN).unwrap());
    let new = NewTenant::new("bella-spa", "Bella Spa", "starter").unwrap();
    let record = kube
        .create_tenant(&new, &Actor::system("test"))
        .await
        .unwrap();
    assert_eq!(
        record.status, "provisioning",
        "active only once the operator reports Ready"
    );
    assert_eq!(record.placement_kind, "none");

    {
        let calls = log.lock().unwrap();
        let (method, uri, body) = calls.last().unwrap();
        assert_eq!(method, "PATCH");
        assert!(
            uri.starts_with("/apis/instudio.io/v1alpha1/tenants/bella-spa?"),
            "{uri}"
        );
        assert!(uri.contains("fieldManager=instudio-control-plane"), "{uri}");
        assert_eq!(body["spec"]["plan"], "starter");
        assert_eq!(body["spec"]["tier"], "shared");
        assert_eq!(
            body["spec"]["domains"][0]["hostname"],
            "bella-spa.instudio.test"
        );
        assert_eq!(body["spec"]["domains"][0]["verified"], true);
        assert!(
            body.get("status").is_none(),
            "the control plane never writes status"
        );
    }

    // The operator placed it and reports Ready: the catalog follows.
    let ready = reported(
        "bella-spa",
        json!({"phase": "Ready", "schemaVersion": "m20261121_000001_salon",
               "placement": {"tier": "shared", "pool": "shared-1", "database": "shared_one",
                             "schema": "t_bella_spa"}}),
    );
    assert_eq!(
        mirror_status(&conn, &ready, Some(500)).await.unwrap(),
        Mirrored::Activated
    );
    let t = find_tenant(&conn, "bella-spa").await.unwrap().unwrap();
    assert_eq!(t.status, "active");
    assert_eq!(
        (
            t.placement_kind.as_str(),
            t.pool_name.as_deref(),
            t.schema_name.as_deref()
        ),
        ("shared", Some("shared-1"), Some("t_bella_spa"))
    );
    assert_eq!(
        column(
            &conn,
            "SELECT database_name FROM platform.shared_pools WHERE name = 'shared-1'"
        )
        .await,
        Some("shared_one".into()),
        "the pool is registered for routing"
    );
    assert_eq!(
        column(
            &conn,
            "SELECT kind FROM platform.tenant_operations WHERE status = 'succeeded'"
        )
        .await,
        Some("provision".into())
    );
    assert_eq!(
        mirror_status(&conn, &ready, Some(500)).await.unwrap(),
        Mirrored::Unchanged
    );

    // Deleting stops routing at once and deletes the Tenant; the archived name follows.
    let deleted = kube
        .delete_tenant("bella-spa", &Actor::system("test"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, "deleted");
    assert!(deleted.hosts.is_empty());
    assert_eq!(log.lock().unwrap().last().unwrap().0, "DELETE");
    let archived = reported(
        "bella-spa",
        json!({"phase": "Deleting", "archivedSchema": "arch_1800000000_t_bella_spa",
               "placement": {"tier": "shared", "pool": "shared-1", "database": "shared_one",
                             "schema": "t_bella_spa"}}),
    );
    assert_eq!(
        mirror_status(&conn, &archived, None).await.unwrap(),
        Mirrored::Unchanged
    );
    mirror_deleted(&conn, &archived).await.unwrap();
    let t = find_tenant(&conn, "bella-spa").await.unwrap().unwrap();
    assert_eq!(
        t.schema_name.as_deref(),
        Some("arch_1800000000_t_bella_spa")
    );
}

#[tokio::test]
async fn a_dedicated_placement_is_mirrored_without_a_pool() {
    let (_db, conn) = catalog().await;
    let (client, _log) = mock_api();
    let kube = KubeProvisioner::new(client, conn.clone(), Hostname::parse(BASE_DOMAIN).unwrap());
    let new = NewTenant::new("acme", "Acme Beauty", "premium").unwrap();
    kube.create_tenant(&new, &Actor::system("test"))
        .await
        .unwrap();
    let provisioning = reported("acme", json!({"phase": "Provisioning", "conditions": []}));
    assert_eq!(
        mirror_status(&conn, &provisioning, None).await.unwrap(),
        Mirrored::Unchanged
    );
    let ready = reported(
        "acme",
        json!({"phase": "Ready", "schemaVersion": "m20261121_000001_salon",
               "placement": {"tier": "dedicated", "database": "tdb_acme", "schema": "t_acme",
                             "namespace": "tenant-acme", "databaseService": "tenant-db",
                             "secretName": "tenant-db-credentials"}}),
    );
    assert_eq!(
        mirror_status(&conn, &ready, None).await.unwrap(),
        Mirrored::Activated
    );
    let t = find_tenant(&conn, "acme").await.unwrap().unwrap();
    assert_eq!(
        (
            t.status.as_str(),
            t.placement_kind.as_str(),
            t.database_name.as_deref(),
            t.pool_name
        ),
        ("active", "dedicated", Some("tdb_acme"), None)
    );
    // A reported placement that does not validate changes nothing.
    let bad = reported(
        "acme",
        json!({"phase": "Ready", "placement": {"tier": "dedicated", "database": "x\"y", "schema": "t_acme"}}),
    );
    assert!(mirror_status(&conn, &bad, None).await.is_err());
    assert_eq!(
        find_tenant(&conn, "acme")
            .await
            .unwrap()
            .unwrap()
            .database_name
            .as_deref(),
        Some("tdb_acme")
    );
}
