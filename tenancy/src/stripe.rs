//! A thin Stripe API client shared by the control plane (subscriptions) and the tenant
//! runtime (booking deposits and refunds): async-stripe's transport (authentication, the
//! pinned API version, idempotency keys, base URL) with request bodies built by the caller
//! and responses read as JSON. Every POST carries an idempotency key derived from our own
//! ids, so a retried request never creates a second object.

use std::{fmt, time::Duration};

use serde::Serialize;
use serde_json::Value;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

/// How to reach Stripe.
#[derive(Clone)]
pub struct StripeConfig {
    secret_key: String,
    /// `None`: api.stripe.com. Tests point this at localstripe.
    pub api_base: Option<String>,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>, api_base: Option<String>) -> Self {
        Self {
            secret_key: secret_key.into(),
            api_base,
        }
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"***")
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Why a Stripe call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// 404: no such object (an answer, for callers that look things up).
    #[error("Stripe has no such object")]
    NotFound,
    /// Stripe refused the request (4xx): retrying the same request will not help.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// Stripe could not be reached or failed (timeouts, 5xx, unreadable answers): the
    /// same request, with the same idempotency key, may be retried.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeApi").finish_non_exhaustive()
    }
}

impl StripeApi {
    pub fn new(config: &StripeConfig) -> Result<Self, Failure> {
        Self::with_timeout(config, Duration::from_secs(20))
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(config: &StripeConfig, timeout: Duration) -> Result<Self, Failure> {
        let mut builder = ClientBuilder::new(&config.secret_key)
            .timeout(timeout)
            .request_strategy(RequestStrategy::Once);
        if let Some(base) = &config.api_base {
            builder = builder.url(base.trim_end_matches('/'));
        }
        let client = builder
            .build()
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        Ok(Self { client })
    }

    /// `GET /v1{path}` with `query`.
    pub async fn get(&self, path: &str, query: &impl Serialize) -> Result<Value, Failure> {
        let req = RequestBuilder::new(StripeMethod::Get, path).query(query);
        self.send(req, RequestStrategy::Once).await
    }

    /// `POST /v1{path}` with a form body, idempotent under `key` (our ids, never random).
    pub async fn post(
        &self,
        path: &str,
        form: &impl Serialize,
        key: &str,
    ) -> Result<Value, Failure> {
        let req = RequestBuilder::new(StripeMethod::Post, path).form(form);
        self.send(req, idempotent(key)?).await
    }

    /// `POST /v1{path}` with no parameters (an action such as cancelling), idempotent
    /// under `key`.
    pub async fn post_action(&self, path: &str, key: &str) -> Result<Value, Failure> {
        let req = RequestBuilder::new(StripeMethod::Post, path);
        self.send(req, idempotent(key)?).await
    }

    async fn send(&self, req: RequestBuilder, strategy: RequestStrategy) -> Result<Value, Failure> {
        let value: miniserde::json::Value = req
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .map_err(|e| match e {
                StripeError::Stripe(_, 404) => Failure::NotFound,
                StripeError::Stripe(errors, status) if (400..500).contains(&status) => {
                    Failure::Refused {
                        status,
                        message: errors.message.unwrap_or_default(),
                    }
                }
                other => Failure::Unavailable(other.to_string()),
            })?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| Failure::Unavailable(e.to_string()))
    }
}

fn idempotent(key: &str) -> Result<RequestStrategy, Failure> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| Failure::Refused {
            status: 0,
            message: format!("invalid idempotency key: {e:?}"),
        })
}

/// Whether `raw` is a Stripe object id with one of `prefixes` (`pm_`, …): the prefix, then
/// letters, digits or underscores, 255 characters at most.
pub fn is_object_id(raw: &str, prefixes: &[&str]) -> bool {
    raw.len() <= 255
        && prefixes.iter().any(|p| {
            raw.strip_prefix(p).is_some_and(|rest| {
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

/// A required string field of a Stripe object.
pub fn str_field<'a>(object: &'a Value, field: &str) -> Result<&'a str, Failure> {
    object[field]
        .as_str()
        .ok_or_else(|| Failure::Unavailable(format!("Stripe object without {field}")))
}
