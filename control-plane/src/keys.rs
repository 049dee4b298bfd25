//! Signing keys for access tokens. In local mode an Ed25519 key pair is created once
//! under the state directory; the runtime verifies with its public half.

use std::path::Path;

use ed25519_dalek::{
    SigningKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tenant_runtime::auth::Claims;

#[derive(Clone)]
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    pub fn generate() -> anyhow::Result<Self> {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        Ok(Self {
            private_pem: key.to_pkcs8_pem(LineEnding::LF)?.to_string(),
            public_pem: key.verifying_key().to_public_key_pem(LineEnding::LF)?,
        })
    }

    /// Loads the pair kept in `dir`, or creates and keeps a new one (private key 0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let private = dir.join("jwt-ed25519.pem");
        let public = dir.join("jwt-ed25519.pub.pem");
        if private.exists() && public.exists() {
            return Ok(Self {
                private_pem: std::fs::read_to_string(&private)?,
                public_pem: std::fs::read_to_string(&public)?,
            });
        }
        std::fs::create_dir_all(dir)?;
        let pair = Self::generate()?;
        std::fs::write(&private, &pair.private_pem)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::write(&public, &pair.public_pem)?;
        Ok(pair)
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = EncodingKey::from_ed_pem(self.private_pem.as_bytes())?;
        Ok(encode(&Header::new(Algorithm::EdDSA), claims, &key)?)
    }
}
