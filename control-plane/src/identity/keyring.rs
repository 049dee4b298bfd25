//! The access-token signing keys: Ed25519 pairs kept in `platform.signing_keys`, their
//! private halves sealed with XChaCha20-Poly1305 under a key derived from
//! `SIGNING_KEY_SECRET`. One key signs; keys rotated out keep verifying (and stay in the
//! JWKS) for the overlap, so tokens signed just before a rotation stay good.
//!
//! Every replica keeps the ring in memory, reloads it when it meets an unknown `kid`
//! (at most once a second) and periodically, so signing and verifying never query the
//! catalog.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, pkcs8::EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tenant_runtime::auth::Claims;

use super::sealing::Sealer;
use crate::{
    catalog::stmt,
    config::Secret,
    error::{Error, Result},
};

struct Verifier {
    key: DecodingKey,
    public: Vec<u8>,
    verify_until: Option<DateTime<Utc>>,
}

struct Ring {
    active_kid: String,
    signer: EncodingKey,
    verifiers: HashMap<String, Verifier>,
}

/// Token settings the ring signs and verifies with.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub overlap: Duration,
}

pub struct KeyRing {
    db: DatabaseConnection,
    sealer: Sealer,
    settings: TokenSettings,
    ring: RwLock<Arc<Ring>>,
    last_reload: Mutex<Instant>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active_kid())
            .finish_non_exhaustive()
    }
}

/// The key id of a public key: its SHA-256, base64url, first 16 characters.
fn kid_for(public: &[u8]) -> String {
    let mut kid = URL_SAFE_NO_PAD.encode(Sha256::digest(public));
    kid.truncate(16);
    kid
}

async fn insert_new_key<C: ConnectionTrait>(conn: &C, sealer: &Sealer) -> Result<String> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let public = key.verifying_key().to_bytes().to_vec();
    let kid = kid_for(&public);
    let sealed = sealer.seal(&kid, key.as_bytes())?;
    conn.execute_raw(stmt(
        "INSERT INTO platform.signing_keys (kid, algorithm, public_key, private_key_sealed, activated_at)
         VALUES ($1, 'EdDSA', $2, $3, now())",
        [kid.clone().into(), public.into(), sealed.into()],
    ))
    .await?;
    Ok(kid)
}

impl KeyRing {
    /// Loads the ring, creating the first key when the catalog has none.
    pub async fn load(
        db: DatabaseConnection,
        secret: &Secret,
        settings: TokenSettings,
    ) -> Result<Self> {
        let sealer = Sealer::new(secret);
        let tx = db.begin().await?;
        tx.execute_raw(stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended('instudio:signing-keys', 7))",
            [],
        ))
        .await?;
        let active = tx
            .query_one_raw(stmt(
                "SELECT kid FROM platform.signing_keys
                 WHERE activated_at IS NOT NULL AND retired_at IS NULL",
                [],
            ))
            .await?;
        if active.is_none() {
            let kid = insert_new_key(&tx, &sealer).await?;
            tracing::info!(%kid, "created the first token signing key");
        }
        tx.commit().await?;
        let ring = read_ring(&db, &sealer).await?;
        Ok(Self {
            db,
            sealer,
            settings,
            ring: RwLock::new(Arc::new(ring)),
            last_reload: Mutex::new(Instant::now()),
        })
    }

    fn current(&self) -> Result<Arc<Ring>> {
        self.ring
            .read()
            .map(|r| r.clone())
            .map_err(|_| Error::internal("key ring lock poisoned"))
    }

    pub fn active_kid(&self) -> Option<String> {
        self.current().ok().map(|r| r.active_kid.clone())
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Re-reads the keys from the catalog.
    pub async fn reload(&self) -> Result<()> {
        let ring = read_ring(&self.db, &self.sealer).await?;
        if let Ok(mut guard) = self.ring.write() {
            *guard = Arc::new(ring);
        }
        if let Ok(mut last) = self.last_reload.lock() {
            *last = Instant::now();
        }
        Ok(())
    }

    /// Starts signing with a new key; the old one verifies for the overlap. Returns the
    /// new key's id.
    #[tracing::instrument(skip(self))]
    pub async fn rotate(&self) -> Result<String> {
        let tx = self.db.begin().await?;
        tx.execute_raw(stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended('instudio:signing-keys', 7))",
            [],
        ))
        .await?;
        let overlap = i64::try_from(self.settings.overlap.as_millis()).unwrap_or(i64::MAX);
        tx.execute_raw(stmt(
            "UPDATE platform.signing_keys SET retired_at = now(),
                 verify_until = now() + $1 * interval '1 millisecond'
             WHERE activated_at IS NOT NULL AND retired_at IS NULL",
            [overlap.into()],
        ))
        .await?;
        let kid = insert_new_key(&tx, &self.sealer).await?;
        tx.commit().await?;
        self.reload().await?;
        tracing::info!(%kid, "token signing key rotated");
        Ok(kid)
    }

    /// Signs `claims` with the active key, its `kid` in the header.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let ring = self.current()?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(ring.active_kid.clone());
        jsonwebtoken::encode(&header, claims, &ring.signer).map_err(Error::internal)
    }

    /// Verifies a token this control plane issued: signature by a current key, issuer,
    /// audience and expiry.
    pub async fn verify(&self, token: &str) -> Result<Claims> {
        let invalid =
            || Error::unauthorized("invalid_token", "the access token is invalid or expired");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::EdDSA {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let mut ring = self.current()?;
        if !ring.verifiers.contains_key(&kid) && self.may_reload() {
            self.reload().await?;
            ring = self.current()?;
        }
        let verifier = ring.verifiers.get(&kid).ok_or_else(invalid)?;
        if verifier
            .verify_until
            .is_some_and(|until| until <= Utc::now())
        {
            return Err(invalid());
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, &verifier.key, &validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())
    }

    fn may_reload(&self) -> bool {
        self.last_reload
            .lock()
            .map(|last| last.elapsed() >= Duration::from_secs(1))
            .unwrap_or(false)
    }

    /// The public keys that verify now, as a JSON Web Key Set.
    pub fn jwks(&self) -> Value {
        let now = Utc::now();
        let keys: Vec<Value> = self
            .current()
            .map(|ring| {
                let mut kids: Vec<&String> = ring
                    .verifiers
                    .iter()
                    .filter(|(_, v)| v.verify_until.is_none_or(|until| until > now))
                    .map(|(kid, _)| kid)
                    .collect();
                kids.sort();
                kids.into_iter()
                    .filter_map(|kid| ring.verifiers.get(kid).map(|v| (kid, v)))
                    .map(|(kid, v)| {
                        json!({
                            "kty": "OKP",
                            "crv": "Ed25519",
                            "x": URL_SAFE_NO_PAD.encode(&v.public),
                            "kid": kid,
                            "alg": "EdDSA",
                            "use": "sig",
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({ "keys": keys })
    }
}

async fn read_ring(db: &DatabaseConnection, sealer: &Sealer) -> Result<Ring> {
    let rows = db
        .query_all_raw(stmt(
            "SELECT kid, public_key, private_key_sealed, retired_at IS NULL AS active, verify_until
             FROM platform.signing_keys
             WHERE activated_at IS NOT NULL AND (verify_until IS NULL OR verify_until > now())",
            [],
        ))
        .await?;
    let mut verifiers = HashMap::new();
    let mut signer = None;
    for row in rows {
        let kid: String = row.try_get("", "kid")?;
        let public: Vec<u8> = row.try_get("", "public_key")?;
        if row.try_get::<bool>("", "active")? {
            let sealed: Vec<u8> = row.try_get("", "private_key_sealed")?;
            let seed: [u8; 32] = sealer
                .open(&kid, &sealed)?
                .try_into()
                .map_err(|_| Error::internal(format!("signing key {kid} has a bad length")))?;
            let der = SigningKey::from_bytes(&seed)
                .to_pkcs8_der()
                .map_err(Error::internal)?;
            signer = Some((kid.clone(), EncodingKey::from_ed_der(der.as_bytes())));
        }
        verifiers.insert(
            kid,
            Verifier {
                key: DecodingKey::from_ed_der(&public),
                public,
                verify_until: row.try_get("", "verify_until")?,
            },
        );
    }
    let (active_kid, signer) =
        signer.ok_or_else(|| Error::internal("no active token signing key in the catalog"))?;
    Ok(Ring {
        active_kid,
        signer,
        verifiers,
    })
}

/// A signing key as operators see it (never the private half).
#[derive(Debug, Clone, serde::Serialize, sea_orm::FromQueryResult)]
pub struct KeyInfo {
    pub kid: String,
    pub algorithm: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub verify_until: Option<DateTime<Utc>>,
}

/// Every signing key, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C) -> Result<Vec<KeyInfo>> {
    use sea_orm::FromQueryResult;
    Ok(KeyInfo::find_by_statement(stmt(
        "SELECT kid, algorithm, created_at, activated_at, retired_at, verify_until
         FROM platform.signing_keys ORDER BY created_at DESC",
        [],
    ))
    .all(conn)
    .await?)
}
