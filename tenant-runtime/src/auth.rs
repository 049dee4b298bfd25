//! Access tokens: JWTs signed by the control plane with an asymmetric key, found by the
//! token's `kid` in the control plane's JWKS (`JWKS_URL`) or, for tokens without one, the
//! fixed public key of `JWT_PUBLIC_KEY_FILE`. A token is good only on the host of the
//! tenant it names; a bad token is an error, never treated as "not signed in".

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use std::sync::Arc;

use crate::{
    AppState, config::JwtConfig, error::ApiError, jwks::JwksCache, routing::TenantContext,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    Owner,
    Manager,
    Receptionist,
    Staff,
    Customer,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::PlatformAdmin,
        Role::Owner,
        Role::Manager,
        Role::Receptionist,
        Role::Staff,
        Role::Customer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Receptionist => "receptionist",
            Role::Staff => "staff",
            Role::Customer => "customer",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
    /// The control plane session the token belongs to (absent in tokens minted by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// Verifies tokens against the issuer's keys: the JWKS by `kid`, or a fixed key.
pub struct TokenVerifier {
    fixed: Option<(DecodingKey, Algorithm)>,
    jwks: Option<Arc<JwksCache>>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("fixed_key", &self.fixed.as_ref().map(|(_, alg)| alg))
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl TokenVerifier {
    pub fn new(config: &JwtConfig) -> anyhow::Result<Self> {
        let fixed = match &config.public_key_pem {
            None => None,
            Some(pem) => {
                let pem = pem.as_bytes();
                if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                    Some((key, Algorithm::EdDSA))
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                    Some((key, Algorithm::ES256))
                } else {
                    anyhow::bail!("the JWT public key is neither an Ed25519 nor a P-256 PEM key");
                }
            }
        };
        let jwks = match &config.jwks_url {
            Some(url) => Some(Arc::new(JwksCache::new(
                url.clone(),
                config.jwks_min_refetch,
            )?)),
            None => None,
        };
        Ok(Self {
            fixed,
            jwks,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// The JWKS cache, when tokens are verified through one.
    pub fn jwks(&self) -> Option<Arc<JwksCache>> {
        self.jwks.clone()
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = decode_header(token).map_err(|_| ApiError::InvalidToken)?;
        let (key, algorithm) = match (&header.kid, &self.jwks, &self.fixed) {
            (Some(kid), Some(jwks), fixed) => match jwks.key(kid).await? {
                Some(found) => found,
                None => fixed.clone().ok_or(ApiError::InvalidToken)?,
            },
            (_, _, Some(fixed)) => fixed.clone(),
            _ => return Err(ApiError::InvalidToken),
        };
        if header.alg != algorithm {
            return Err(ApiError::InvalidToken);
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|err| {
                tracing::debug!(error = %err, "token refused");
                ApiError::InvalidToken
            })
    }
}

/// A signed-in user of the routed tenant.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub subject: String,
    pub role: Role,
    pub tenant_id: Uuid,
}

impl AuthUser {
    /// Refuses unless the user holds one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let TenantContext(route) = TenantContext::from_request_parts(parts, state).await?;
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::InvalidToken)?;
        let claims = state.tokens.verify(token.trim()).await?;
        if claims.tenant_id != Some(route.tenant_id) {
            return Err(ApiError::WrongTenant);
        }
        Ok(AuthUser {
            subject: claims.sub,
            role: claims.role,
            tenant_id: route.tenant_id,
        })
    }
}

impl Role {
    /// Owner, manager and receptionist: they run the salon's front desk and see everything.
    pub fn is_front_desk(self) -> bool {
        matches!(self, Role::Owner | Role::Manager | Role::Receptionist)
    }

    /// Owner and manager: they change the catalogue, staff and schedules.
    pub fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Manager)
    }
}

/// A request that may be signed in: no `Authorization` header is `None`, but a header
/// with a bad token is refused, never taken for "not signed in".
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| Self(Some(u)))
    }
}

impl AuthUser {
    pub fn require_manager(&self) -> Result<(), ApiError> {
        if self.role.is_manager() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn require_front_desk(&self) -> Result<(), ApiError> {
        if self.role.is_front_desk() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}
