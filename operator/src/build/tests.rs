//! Pure builder tests: every object built from the YAML fixtures.

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, StatefulSet},
        core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service},
        networking::v1::{Ingress, NetworkPolicy},
    },
    apimachinery::pkg::api::resource::Quantity,
};

use super::*;
use crate::{
    fixtures::{DEDICATED_TENANT, SHARED_TENANT, build_config, tenant},
    meta::{MANAGED_BY, MANAGED_BY_KEY, TENANT_LABEL},
    model::TenantModel,
};

fn model(yaml: &str) -> TenantModel {
    TenantModel::from_tenant(&tenant(yaml)).unwrap()
}

fn creds() -> Credentials {
    Credentials::new("s3cretPassw0rdFromTheGenerator12".into())
}

fn dedicated(flavor: DbFlavor) -> Vec<DesiredObject> {
    dedicated_objects(&model(DEDICATED_TENANT), &build_config(), flavor, &creds()).unwrap()
}

fn one<K: serde::de::DeserializeOwned>(objects: &[DesiredObject], kind: Kind, name: &str) -> K {
    objects
        .iter()
        .find(|o| o.kind == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name}"))
        .to_typed()
        .unwrap()
}

#[test]
fn every_dedicated_object_is_labelled_owned_and_namespaced() {
    let tenant = tenant(DEDICATED_TENANT);
    for flavor in [DbFlavor::BuiltIn, DbFlavor::CloudNativePg] {
        let objects = dedicated(flavor);
        let names: Vec<String> = objects.iter().map(|o| o.key().to_string()).collect();
        assert!(objects.len() >= 13, "{names:?}");
        for o in &objects {
            let meta = &o.object.metadata;
            let labels = meta.labels.as_ref().unwrap();
            assert_eq!(
                labels.get(MANAGED_BY_KEY).map(String::as_str),
                Some(MANAGED_BY),
                "{o:?}"
            );
            assert_eq!(
                labels.get(TENANT_LABEL).map(String::as_str),
                Some("acme"),
                "{o:?}"
            );
            let owners = meta.owner_references.as_ref().unwrap();
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].kind, "Tenant");
            assert_eq!(owners[0].api_version, "instudio.io/v1alpha1");
            assert_eq!(Some(&owners[0].uid), tenant.metadata.uid.as_ref());
            assert_eq!(owners[0].controller, Some(true));
            assert_eq!(owners[0].block_owner_deletion, Some(true));
            match o.kind {
                Kind::Namespace => assert_eq!(meta.namespace, None),
                _ => assert_eq!(meta.namespace.as_deref(), Some("tenant-acme"), "{o:?}"),
            }
            assert!(
                o.object.types.is_some(),
                "apiVersion and kind are set: {o:?}"
            );
        }
        // The namespace comes first, the Ingress last: pods never start before what
        // they read.
        assert_eq!(objects[0].kind, Kind::Namespace);
        assert_eq!(objects.last().map(|o| o.kind), Some(Kind::Ingress));
        let cnpg = objects.iter().any(|o| o.kind == Kind::CnpgCluster);
        let sts = objects.iter().any(|o| o.kind == Kind::StatefulSet);
        assert_eq!(
            (cnpg, sts),
            (
                flavor == DbFlavor::CloudNativePg,
                flavor == DbFlavor::BuiltIn
            )
        );
    }
}

#[test]
fn namespace_enforces_the_restricted_pod_security_standard() {
    let ns: Namespace = one(
        &dedicated(DbFlavor::BuiltIn),
        Kind::Namespace,
        "tenant-acme",
    );
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
}

#[test]
fn ingress_routes_only_verified_hosts_each_with_its_certificate() {
    let ing: Ingress = one(
        &dedicated(DbFlavor::BuiltIn),
        Kind::Ingress,
        "tenant-runtime",
    );
    let annotations = ing.metadata.annotations.unwrap();
    assert_eq!(
        annotations["cert-manager.io/cluster-issuer"],
        "letsencrypt-prod"
    );
    let spec = ing.spec.unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let hosts: Vec<_> = spec
        .rules
        .unwrap()
        .into_iter()
        .map(|r| {
            let path = &r.http.as_ref().unwrap().paths[0];
            let backend = path.backend.service.as_ref().unwrap();
            assert_eq!(backend.name, "tenant-runtime");
            assert_eq!(backend.port.as_ref().unwrap().number, Some(80));
            r.host.unwrap()
        })
        .collect();
    assert_eq!(hosts, ["acme.instudio.app", "book.acme-salon.com"]);
    let tls: Vec<_> = spec
        .tls
        .unwrap()
        .into_iter()
        .map(|t| (t.hosts.unwrap(), t.secret_name.unwrap()))
        .collect();
    assert_eq!(
        tls,
        [
            (
                vec!["acme.instudio.app".to_owned()],
                "tls-acme.instudio.app".to_owned()
            ),
            (
                vec!["book.acme-salon.com".to_owned()],
                "tls-book.acme-salon.com".to_owned()
            ),
        ]
    );
}

#[test]
fn no_verified_domain_means_no_ingress_and_no_issuer_means_no_tls() {
    let mut t = tenant(DEDICATED_TENANT);
    t.spec.domains.iter_mut().for_each(|d| d.verified = false);
    let m = TenantModel::from_tenant(&t).unwrap();
    let objects = dedicated_objects(&m, &build_config(), DbFlavor::BuiltIn, &creds()).unwrap();
    assert!(objects.iter().all(|o| o.kind != Kind::Ingress));

    let mut config = build_config();
    config.cert_issuer = None;
    let objects = dedicated_objects(
        &model(DEDICATED_TENANT),
        &config,
        DbFlavor::BuiltIn,
        &creds(),
    )
    .unwrap();
    let ing: Ingress = one(&objects, Kind::Ingress, "tenant-runtime");
    assert!(ing.metadata.annotations.is_none());
    assert!(ing.spec.unwrap().tls.is_none());
}

#[test]
fn runtime_is_pinned_sized_by_plan_probed_and_locked_down() {
    let objects = dedicated(DbFlavor::BuiltIn);
    let d: Deployment = one(&objects, Kind::Deployment, "tenant-runtime");
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2), "premium runs two replicas");
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.automount_service_account_token, Some(false));
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = &pod.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("registry.example/instudio/tenant-runtime:1.2.3")
    );
    let env = c.env.as_ref().unwrap();
    let pinned = env.iter().find(|e| e.name == "PINNED_TENANT").unwrap();
    assert_eq!(pinned.value.as_deref(), Some("acme"));
    assert!(env.iter().any(|e| e.name == "JWT_PUBLIC_KEY_FILE"));
    assert_eq!(
        c.env_from.as_ref().unwrap()[0]
            .secret_ref
            .as_ref()
            .unwrap()
            .name,
        "tenant-runtime-env"
    );
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    let res = c.resources.as_ref().unwrap();
    assert_eq!(
        res.requests.as_ref().unwrap()["cpu"],
        Quantity("500m".into())
    );
    assert_eq!(res.limits.as_ref().unwrap()["cpu"], Quantity("1".into()));
    assert_eq!(
        res.limits.as_ref().unwrap()["memory"],
        Quantity("512Mi".into())
    );
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .clone()
            .unwrap()
    };
    assert_eq!(probe_path(&c.liveness_probe), "/healthz");
    assert_eq!(probe_path(&c.readiness_probe), "/readyz");
    assert_eq!(probe_path(&c.startup_probe), "/healthz");

    let svc: Service = one(&objects, Kind::Service, "tenant-runtime");
    let selector = svc.spec.unwrap().selector.unwrap();
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));

    let jwt: ConfigMap = one(&objects, Kind::ConfigMap, "tenant-runtime-jwt");
    assert!(jwt.data.unwrap()["jwt-public.pem"].contains("BEGIN PUBLIC KEY"));
}

#[test]
fn resource_overrides_replace_the_plan() {
    let mut t = tenant(DEDICATED_TENANT);
    t.spec.resources = Some(tenancy::crd::ResourceOverrides {
        replicas: Some(5),
        storage: Some(Quantity("80Gi".into())),
        ..Default::default()
    });
    let m = TenantModel::from_tenant(&t).unwrap();
    let objects = dedicated_objects(&m, &build_config(), DbFlavor::BuiltIn, &creds()).unwrap();
    let d: Deployment = one(&objects, Kind::Deployment, "tenant-runtime");
    assert_eq!(d.spec.unwrap().replicas, Some(5));
    let s: StatefulSet = one(&objects, Kind::StatefulSet, "tenant-db");
    let claim = &s.spec.unwrap().volume_claim_templates.unwrap()[0];
    let storage = &claim
        .spec
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap()["storage"];
    assert_eq!(storage, &Quantity("80Gi".into()));
    let q: ResourceQuota = one(&objects, Kind::ResourceQuota, "tenant-quota");
    assert_eq!(
        q.spec.unwrap().hard.unwrap()["requests.storage"],
        Quantity("80Gi".into())
    );
}

#[test]
fn quota_and_limits_follow_the_plan() {
    let objects = dedicated(DbFlavor::BuiltIn);
    let q: ResourceQuota = one(&objects, Kind::ResourceQuota, "tenant-quota");
    let hard = q.spec.unwrap().hard.unwrap();
    assert_eq!(hard["limits.cpu"], Quantity("4500m".into()));
    assert_eq!(hard["limits.memory"], Quantity("2816Mi".into()));
    assert_eq!(hard["requests.storage"], Quantity("20Gi".into()));
    assert_eq!(hard["pods"], Quantity("6".into()));
    assert_eq!(hard["services.loadbalancers"], Quantity("0".into()));
    let lr: LimitRange = one(&objects, Kind::LimitRange, "tenant-limits");
    let item = &lr.spec.unwrap().limits[0];
    assert_eq!(item.type_, "Container");
    assert_eq!(item.max.as_ref().unwrap()["memory"], Quantity("1Gi".into()));
    assert!(item.default.is_some() && item.default_request.is_some());

    let mut t = tenant(DEDICATED_TENANT);
    t.spec.plan = tenancy::PlanCode::Enterprise;
    let m = TenantModel::from_tenant(&t).unwrap();
    let objects = dedicated_objects(&m, &build_config(), DbFlavor::BuiltIn, &creds()).unwrap();
    let q: ResourceQuota = one(&objects, Kind::ResourceQuota, "tenant-quota");
    assert_eq!(
        q.spec.unwrap().hard.unwrap()["requests.storage"],
        Quantity("200Gi".into())
    );
}

#[test]
fn built_in_database_reads_its_password_from_the_secret_and_runs_non_root() {
    let objects = dedicated(DbFlavor::BuiltIn);
    let svc: Service = one(&objects, Kind::Service, "tenant-db");
    assert_eq!(
        svc.spec.unwrap().cluster_ip.as_deref(),
        Some("None"),
        "headless"
    );
    let s: StatefulSet = one(&objects, Kind::StatefulSet, "tenant-db");
    let spec = s.spec.unwrap();
    assert_eq!(spec.service_name.as_deref(), Some("tenant-db"));
    let pod = spec.template.spec.unwrap();
    let c = &pod.containers[0];
    let env = c.env.as_ref().unwrap();
    let password = env.iter().find(|e| e.name == "POSTGRES_PASSWORD").unwrap();
    assert!(password.value.is_none(), "never inline");
    let from = password
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("tenant-db-credentials", "password")
    );
    let db = env.iter().find(|e| e.name == "POSTGRES_DB").unwrap();
    assert_eq!(db.value.as_deref(), Some("tdb_acme"));
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(
        (sc.run_as_user, sc.read_only_root_filesystem),
        (Some(999), Some(true))
    );
    assert_eq!(pod.security_context.unwrap().fs_group, Some(999));
    assert!(c.readiness_probe.is_some());

    let secret: Secret = one(&objects, Kind::Secret, "tenant-db-credentials");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    let data = secret.data.unwrap();
    assert_eq!(data["username"].0, b"tenant");
    assert_eq!(data["password"].0, creds().password().as_bytes());
}

#[test]
fn cloudnativepg_cluster_bootstraps_from_the_generated_secret() {
    let objects = dedicated(DbFlavor::CloudNativePg);
    let cluster = objects
        .iter()
        .find(|o| o.kind == Kind::CnpgCluster)
        .unwrap();
    let types = cluster.object.types.as_ref().unwrap();
    assert_eq!(
        (types.api_version.as_str(), types.kind.as_str()),
        ("postgresql.cnpg.io/v1", "Cluster")
    );
    let spec = &cluster.object.data["spec"];
    assert_eq!(spec["instances"], 1);
    assert_eq!(spec["bootstrap"]["initdb"]["database"], "tdb_acme");
    assert_eq!(spec["bootstrap"]["initdb"]["owner"], "tenant");
    assert_eq!(
        spec["bootstrap"]["initdb"]["secret"]["name"],
        "tenant-db-credentials"
    );
    assert_eq!(spec["storage"]["size"], "20Gi");
    assert_eq!(spec["inheritedMetadata"]["labels"][TENANT_LABEL], "acme");

    let env: Secret = one(&objects, Kind::Secret, "tenant-runtime-env");
    let url = String::from_utf8(env.data.unwrap()["TENANT_DATABASE_URL"].0.clone()).unwrap();
    assert_eq!(
        url,
        format!(
            "postgres://tenant:{}@tenant-db-rw.tenant-acme.svc:5432/tdb_acme",
            creds().password()
        )
    );
}

#[test]
fn network_policies_let_only_the_ingress_controller_reach_the_runtime() {
    let objects = dedicated(DbFlavor::BuiltIn);
    let deny: NetworkPolicy = one(&objects, Kind::NetworkPolicy, "default-deny-ingress");
    let spec = deny.spec.unwrap();
    assert_eq!(spec.pod_selector.unwrap(), Default::default(), "every pod");
    assert_eq!(spec.ingress, Some(vec![]), "no rule: nothing allowed");

    let runtime: NetworkPolicy = one(&objects, Kind::NetworkPolicy, "runtime-ingress");
    let spec = runtime.spec.unwrap();
    let rule = &spec.ingress.unwrap()[0];
    let namespaces: Vec<_> = rule
        .from
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| {
            p.namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["kubernetes.io/metadata.name"]
                .clone()
        })
        .collect();
    assert_eq!(namespaces, ["ingress-nginx", "monitoring"]);
    assert_eq!(rule.ports.as_ref().unwrap().len(), 1);

    let db: NetworkPolicy = one(&objects, Kind::NetworkPolicy, "database-ingress");
    let rules = db.spec.unwrap().ingress.unwrap();
    assert_eq!(rules.len(), 1, "built-in: runtime and operator only");
    let from = rules[0].from.as_ref().unwrap();
    let runtime_pods = from[0]
        .pod_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(runtime_pods["app.kubernetes.io/name"], "tenant-runtime");
    assert!(
        from[0].namespace_selector.is_none(),
        "this namespace's runtime only"
    );

    let cnpg = dedicated(DbFlavor::CloudNativePg);
    let db: NetworkPolicy = one(&cnpg, Kind::NetworkPolicy, "database-ingress");
    assert_eq!(
        db.spec.unwrap().ingress.unwrap().len(),
        3,
        "plus the CNPG operator and peers"
    );
}

#[test]
fn shared_tenants_get_an_ingress_only_for_verified_custom_domains() {
    let objects = shared_objects(
        &model(SHARED_TENANT),
        &build_config(),
        &model(SHARED_TENANT).custom_hosts,
    )
    .unwrap();
    assert_eq!(objects.len(), 1);
    let ing: Ingress = objects[0].to_typed().unwrap();
    assert_eq!(ing.metadata.namespace.as_deref(), Some("instudio"));
    assert_eq!(ing.metadata.name.as_deref(), Some("tenant-bella-spa"));
    let rules = ing.spec.unwrap().rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].host.as_deref(),
        Some("book.bellaspa.com"),
        "lower-cased, verified only"
    );
    let backend = rules[0].http.as_ref().unwrap().paths[0]
        .backend
        .service
        .clone()
        .unwrap();
    assert_eq!(backend.name, "instudio-tenant-runtime");

    let mut t = tenant(SHARED_TENANT);
    t.spec
        .domains
        .retain(|d| d.kind == tenancy::crd::DomainKind::Subdomain);
    let m = TenantModel::from_tenant(&t).unwrap();
    assert!(
        shared_objects(&m, &build_config(), &m.custom_hosts)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn secrets_never_reach_debug_output_or_the_hash_annotation() {
    let objects = dedicated(DbFlavor::BuiltIn);
    let password = creds().password().to_owned();
    for o in &objects {
        assert!(!format!("{o:?}").contains(&password));
    }
    assert!(!format!("{:?}", creds()).contains(&password));
    assert!(!format!("{:?}", build_config()).contains("catalog-secret"));
    let secret = objects
        .iter()
        .find(|o| o.name() == "tenant-db-credentials")
        .unwrap();
    let mut other = secret.clone();
    other.object.data["data"]["password"] = serde_json::json!("b3RoZXI=");
    assert_eq!(
        crate::apply::applied_hash(&secret.object).unwrap(),
        crate::apply::applied_hash(&other.object).unwrap(),
        "data is left out of the hash"
    );
}

#[test]
fn validation_refuses_what_cannot_be_built() {
    let mut t = tenant(DEDICATED_TENANT);
    t.metadata.name = Some("other".into());
    assert_eq!(
        TenantModel::from_tenant(&t).unwrap_err().code,
        "name_mismatch"
    );
    let mut t = tenant(DEDICATED_TENANT);
    t.spec.domains[1].hostname = "book acme.com".into();
    assert_eq!(TenantModel::from_tenant(&t).unwrap_err().field, "hostname");
    let mut t = tenant(DEDICATED_TENANT);
    t.spec.slug = "admin".into();
    t.metadata.name = Some("admin".into());
    assert_eq!(TenantModel::from_tenant(&t).unwrap_err().code, "reserved");
    let mut t = tenant(DEDICATED_TENANT);
    t.metadata.uid = None;
    assert_eq!(
        TenantModel::from_tenant(&t).unwrap_err().code,
        "not_persisted"
    );

    let mut config = build_config();
    config.runtime_catalog_url = None;
    let err = dedicated_objects(
        &model(DEDICATED_TENANT),
        &config,
        DbFlavor::BuiltIn,
        &creds(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("RUNTIME_DATABASE_URL"));
}
