//! A control plane spawned on port 0 over a test's catalog, and small HTTP helpers to
//! drive its API the way a client does.

use std::time::Duration;

use control_plane::{
    billing::{Billing, ManualBilling},
    config::{DnsResolver, Secret, Settings},
    http::{ControlPlane, CpState},
    identity::{password::NewPassword, users},
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenancy::{Email, Hostname};
use tenant_runtime::auth::Role;
use tokio::task::JoinHandle;
use url::Url;

use crate::{BASE_DOMAIN, Platform};

pub const ADMIN_EMAIL: &str = "admin@platform.example";
pub const ADMIN_PASSWORD: &str = "Platform-Admin-Pass-1";

/// Control plane settings for tests: the test base domain, a fresh key secret, and
/// background work slowed right down (tests drive it directly).
pub fn settings() -> Settings {
    let mut s = Settings::new(
        Hostname::parse(BASE_DOMAIN).unwrap(),
        Secret::new(format!("test-secret-{}", uuid::Uuid::new_v4())),
    )
    .unwrap();
    s.worker_interval = Duration::from_secs(3600);
    s.dns = DnsResolver::Servers(vec!["127.0.0.1:9".parse().unwrap()]);
    s.login_attempts_per_second = 1000;
    // Tier moves make server-wide databases named after the slug (`tdb_<slug>`); tests
    // that change plans for other reasons must not start them. Tests of the moves turn
    // this on.
    s.tier_moves_on_plan_change = false;
    s
}

/// A running control plane and a client for it.
#[derive(Debug)]
pub struct ControlPlaneHandle {
    pub base: String,
    pub client: reqwest::Client,
    pub state: CpState,
    task: JoinHandle<()>,
}

impl Drop for ControlPlaneHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Platform {
    pub async fn control_plane(&self, settings: Settings) -> ControlPlaneHandle {
        self.control_plane_with_billing(settings, std::sync::Arc::new(ManualBilling))
            .await
    }

    pub async fn control_plane_with_billing(
        &self,
        settings: Settings,
        billing: std::sync::Arc<dyn Billing>,
    ) -> ControlPlaneHandle {
        let cp = ControlPlane::build_with_billing(
            &self.provisioner,
            settings,
            "127.0.0.1:0".parse().unwrap(),
            billing,
        )
        .await
        .expect("build control plane");
        let base = format!("http://{}", cp.local_addr().unwrap());
        let state = cp.state().clone();
        let task = tokio::spawn(async move {
            let _ = cp.run_with_shutdown(std::future::pending()).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        ControlPlaneHandle {
            base,
            client,
            state,
            task,
        }
    }

    /// Creates the platform admin `ADMIN_EMAIL`.
    pub async fn create_admin(&self) {
        users::ensure(
            &self.catalog,
            &Email::parse(ADMIN_EMAIL).unwrap(),
            "Test Admin",
            &NewPassword::parse(ADMIN_PASSWORD, &[]).unwrap(),
            None,
            Role::PlatformAdmin,
        )
        .await
        .unwrap();
    }
}

impl ControlPlaneHandle {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn jwks_url(&self) -> Url {
        Url::parse(&self.url("/.well-known/jwks.json")).unwrap()
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self.client.request(method, self.url(path));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request and returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.request(method, path, token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs in and returns the token response (panics unless 200).
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body
    }

    /// The admin's access token (the admin must exist).
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs a salon up on `plan`; returns the 201 body.
    pub async fn signup(&self, subdomain: &str, email: &str, plan: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/v1/signup",
                None,
                serde_json::json!({
                    "owner_name": "Ana López",
                    "email": email,
                    "password": OWNER_PASSWORD,
                    "salon_name": format!("Salon {subdomain}"),
                    "subdomain": subdomain,
                    "plan": plan,
                    "locale": "en",
                    "time_zone": "Europe/Lisbon",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "signup {subdomain}: {body}");
        body
    }
}

pub const OWNER_PASSWORD: &str = "Quite-Strong-Pass-42";

/// The newest outbox message of `kind` to `recipient`: its payload.
pub async fn outbox_payload(platform: &Platform, kind: &str, recipient: &str) -> Value {
    use sea_orm::ConnectionTrait;
    let row = platform
        .catalog
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT payload FROM platform.outbox WHERE kind = $1 AND recipient = $2
             ORDER BY created_at DESC, id DESC LIMIT 1",
            [kind.into(), recipient.into()],
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {kind} message to {recipient}"));
    row.try_get("", "payload").unwrap()
}
