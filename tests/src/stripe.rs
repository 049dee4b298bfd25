//! localstripe (PyPI), a stateful fake of the Stripe API, started per test on a free
//! loopback port, so no test sees another's customers or events. The binary comes from
//! `INSTUDIO_LOCALSTRIPE` (set by scripts/test.sh) or `scripts/localstripe.sh
//! --install-only`, which installs it into a virtualenv on first use.

use std::{path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use control_plane::billing::client::{StripeApi, StripeConfig};
use tokio::process::{Child, Command};

/// The secret key tests use: localstripe accepts any `sk_test_` key.
pub const SECRET_KEY: &str = "sk_test_instudio_localstripe_0123456789abcdef";

/// A running localstripe, stopped when dropped.
#[derive(Debug)]
pub struct LocalStripe {
    pub base: String,
    _child: Child,
}

fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("INSTUDIO_LOCALSTRIPE") {
                return PathBuf::from(path);
            }
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/localstripe.sh");
            let out = std::process::Command::new("bash")
                .arg(script)
                .arg("--install-only")
                .stderr(Stdio::inherit())
                .output()
                .expect("run scripts/localstripe.sh --install-only");
            assert!(out.status.success(), "installing localstripe failed");
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        })
        .clone()
}

impl LocalStripe {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary())
            // localstripe saves its store to /tmp/localstripe.pickle and reloads it at
            // start; every test starts empty instead.
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start localstripe");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let probe = client
                .get(format!("{base}/v1/customers"))
                .basic_auth(SECRET_KEY, Some(""))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Self {
                    base,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("localstripe did not start on {base}");
    }

    pub fn config(&self) -> StripeConfig {
        StripeConfig::new(SECRET_KEY, Some(self.base.clone()))
    }

    pub fn api(&self) -> StripeApi {
        StripeApi::new(&self.config()).unwrap()
    }

    /// `GET /v1{path}` straight from localstripe, to check what exists there.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/v1{path}", self.base))
            .basic_auth(SECRET_KEY, Some(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The webhook secret tests configure on both sides.
pub const WEBHOOK_SECRET: &str = "whsec_instudio_test_0123456789abcdefghijkl";

impl LocalStripe {
    /// Makes localstripe deliver its events, signed with [`WEBHOOK_SECRET`], to `url`.
    pub async fn deliver_webhooks_to(&self, url: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}/_config/webhooks/instudio", self.base))
            .basic_auth(SECRET_KEY, Some(""))
            .form(&[("url", url), ("secret", WEBHOOK_SECRET)])
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status.is_success(),
            "configuring localstripe webhooks: {status}"
        );
    }

    /// A card PaymentMethod, as Stripe.js would create it in the owner's browser.
    pub async fn card(&self, number: &str) -> String {
        let pm: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/v1/payment_methods", self.base))
            .basic_auth(SECRET_KEY, Some(""))
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2034"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pm["id"].as_str().unwrap().to_owned()
    }
}

/// Signs `payload` the way Stripe does, at unix time `t`.
pub fn sign(payload: &str, t: i64, secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}
