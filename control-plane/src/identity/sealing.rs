//! Sealing secrets at rest: XChaCha20-Poly1305 under a key derived from
//! `SIGNING_KEY_SECRET`, a fresh random nonce per value (stored in front of it).

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use sha2::{Digest, Sha256};

use crate::{
    config::Secret,
    error::{Error, Result},
};

/// Seals and opens private keys. The kid is bound in as associated data, so a sealed
/// key cannot be passed off as another.
pub(crate) struct Sealer(XChaCha20Poly1305);

impl Sealer {
    pub(crate) fn new(secret: &Secret) -> Self {
        let key = Sha256::digest(secret.expose().as_bytes());
        Self(XChaCha20Poly1305::new(&key))
    }

    pub(crate) fn seal(&self, kid: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let nonce_bytes = rand::random::<[u8; 24]>();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing a signing key failed"))?;
        Ok([nonce_bytes.as_slice(), &sealed].concat())
    }

    pub(crate) fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 {
            return Err(Error::internal(format!("signing key {kid} is truncated")));
        }
        let (nonce, body) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce
            .try_into()
            .map_err(|_| Error::internal(format!("signing key {kid} is truncated")))?;
        self.0
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad: kid.as_bytes() })
            .map_err(|_| {
                Error::internal(format!(
                    "signing key {kid} cannot be opened: SIGNING_KEY_SECRET differs from the one that sealed it"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_secret_and_label() {
        let secret = Secret::new("a".repeat(40));
        let sealer = Sealer::new(&secret);
        let sealed = sealer.seal("kid-1", b"seed").unwrap();
        assert_ne!(&sealed[24..], b"seed");
        assert_eq!(sealer.open("kid-1", &sealed).unwrap(), b"seed");
        assert!(sealer.open("kid-2", &sealed).is_err(), "bound to its label");
        assert!(
            Sealer::new(&Secret::new("b".repeat(40)))
                .open("kid-1", &sealed)
                .is_err()
        );
        assert!(sealer.open("kid-1", &sealed[..10]).is_err());
    }
}
