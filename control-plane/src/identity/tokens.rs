//! Opaque tokens (refresh, CSRF, email links): 256 random bits, URL-safe, and stored
//! only as their SHA-256. They carry enough entropy that a fast hash is the right one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// A freshly made token: the text to hand out once, and the hash to keep.
pub struct OpaqueToken {
    pub plain: String,
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(***)")
    }
}

pub fn generate() -> OpaqueToken {
    let plain = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = hash(&plain);
    OpaqueToken { plain, hash }
}

pub fn hash(plain: &str) -> Vec<u8> {
    Sha256::digest(plain.as_bytes()).to_vec()
}

/// Compares without leaking where two byte strings first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plain, b.plain);
        assert_eq!(a.plain.len(), 43);
        assert_eq!(hash(&a.plain), a.hash);
        assert!(constant_time_eq(&a.hash, &hash(&a.plain)));
        assert!(!constant_time_eq(&a.hash, &b.hash));
    }
}
