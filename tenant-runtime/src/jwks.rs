//! The issuer's JSON Web Key Set, fetched from `JWKS_URL` and kept in memory. Verifying
//! a token reads the cached set; a `kid` it does not hold triggers one refetch, at most
//! once per `min_refetch` (so made-up kids cannot make the runtime hammer the control
//! plane). A background task also refreshes it periodically, which is how keys rotated
//! out of the set stop verifying.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet},
};
use url::Url;

use crate::error::ApiError;

type Keys = HashMap<String, (DecodingKey, Algorithm)>;

pub struct JwksCache {
    url: Url,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<Keys>>>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    min_refetch: Duration,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// Only asymmetric keys of the algorithms the issuer uses: an `oct` (HMAC) key in the
/// set must never verify anything.
fn usable(jwk: &jsonwebtoken::jwk::Jwk) -> Option<(DecodingKey, Algorithm)> {
    let alg = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    DecodingKey::from_jwk(jwk).ok().map(|key| (key, alg))
}

impl JwksCache {
    pub fn new(url: Url, min_refetch: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url,
            http,
            keys: RwLock::new(None),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            min_refetch,
        })
    }

    fn cached(&self) -> Option<Arc<Keys>> {
        self.keys.read().ok().and_then(|k| k.clone())
    }

    /// Fetches the set now and replaces the cached one.
    pub async fn fetch(&self) -> anyhow::Result<usize> {
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        let set: JwkSet = self
            .http
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let keys: Keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, usable(jwk)?)))
            .collect();
        let count = keys.len();
        if let Ok(mut guard) = self.keys.write() {
            *guard = Some(Arc::new(keys));
        }
        Ok(count)
    }

    fn may_refetch(&self) -> bool {
        self.last_fetch
            .lock()
            .map(|last| last.is_none_or(|t| t.elapsed() >= self.min_refetch))
            .unwrap_or(false)
    }

    /// The key `kid` names, refetching the set once if it is unknown and a refetch is
    /// allowed. `Unavailable` when no set could ever be fetched.
    pub async fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, ApiError> {
        if let Some(keys) = self.cached()
            && let Some(found) = keys.get(kid)
        {
            return Ok(Some(found.clone()));
        }
        if self.may_refetch() {
            let _one_at_a_time = self.fetching.lock().await;
            // Someone else may have fetched while this waited.
            let known = self.cached().is_some_and(|k| k.contains_key(kid));
            if !known
                && self.may_refetch()
                && let Err(err) = self.fetch().await
            {
                tracing::warn!(error = %err, url = %self.url, "fetching the JWKS failed");
            }
        }
        match self.cached() {
            Some(keys) => Ok(keys.get(kid).cloned()),
            None => Err(ApiError::Unavailable),
        }
    }

    /// Refreshes the set every `interval` (first right away) until aborted.
    pub async fn refresh_worker(self: Arc<Self>, interval: Duration) {
        loop {
            match self.fetch().await {
                Ok(n) => tracing::debug!(keys = n, "JWKS refreshed"),
                Err(err) => tracing::warn!(error = %err, url = %self.url, "JWKS refresh failed"),
            }
            // Until a first set arrives, retry soon.
            let wait = if self.cached().is_some() {
                interval
            } else {
                interval.min(Duration::from_secs(2))
            };
            tokio::time::sleep(wait).await;
        }
    }
}
