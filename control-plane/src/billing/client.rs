//! A thin Stripe API client: async-stripe's transport (authentication, the pinned API
//! version, idempotency keys, base URL) with request bodies built here and responses read
//! as JSON. Every POST carries an idempotency key derived from our own ids, so a retried
//! request never creates a second object.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

use crate::{Error, config::Secret, error::Result};

/// How to reach Stripe.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: Secret,
    /// `None`: api.stripe.com. Tests point this at localstripe.
    pub api_base: Option<String>,
}

#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeApi").finish_non_exhaustive()
    }
}

/// Why a Stripe call failed, for callers that treat "no such object" as an answer.
#[derive(Debug)]
pub enum Failure {
    NotFound,
    Other(Error),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotFound => Error::PaymentProvider("no such object".into()),
            Failure::Other(e) => e,
        }
    }
}

impl StripeApi {
    pub fn new(config: &StripeConfig) -> Result<Self> {
        let mut builder = ClientBuilder::new(config.secret_key.expose())
            .timeout(Duration::from_secs(20))
            .request_strategy(RequestStrategy::Once);
        if let Some(base) = &config.api_base {
            builder = builder.url(base.trim_end_matches('/'));
        }
        let client = builder
            .build()
            .map_err(|e| Error::PaymentProvider(e.to_string()))?;
        Ok(Self { client })
    }

    /// `GET /v1{path}` with `query`.
    pub async fn get(&self, path: &str, query: &impl Serialize) -> Result<Value, Failure> {
        let req = RequestBuilder::new(StripeMethod::Get, path).query(query);
        self.send(req, RequestStrategy::Once).await
    }

    /// `POST /v1{path}` with a form body, idempotent under `key` (our ids, never random).
    pub async fn post(&self, path: &str, form: &impl Serialize, key: &str) -> Result<Value> {
        let key = IdempotencyKey::new(key).map_err(|e| Error::internal(format!("{e:?}")))?;
        let req = RequestBuilder::new(StripeMethod::Post, path).form(form);
        self.send(req, RequestStrategy::Idempotent(key))
            .await
            .map_err(Error::from)
    }

    async fn send(&self, req: RequestBuilder, strategy: RequestStrategy) -> Result<Value, Failure> {
        let value: miniserde::json::Value = req
            .customize()
            .request_strategy(strategy)
            .send(&self.client)
            .await
            .map_err(|e| match e {
                StripeError::Stripe(_, 404) => Failure::NotFound,
                other => Failure::Other(Error::PaymentProvider(other.to_string())),
            })?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| Failure::Other(Error::PaymentProvider(e.to_string())))
    }
}

/// A required string field of a Stripe object.
pub fn str_field<'a>(object: &'a Value, field: &str) -> Result<&'a str> {
    object[field]
        .as_str()
        .ok_or_else(|| Error::PaymentProvider(format!("Stripe object without {field}")))
}
