//! Signed, expiring links that let a guest (no account) see and manage one booking.
//!
//! A token is `<expiry unix seconds>.<base64url HMAC-SHA256>` over the tenant id, the
//! booking id and the expiry, keyed with the runtime's link secret. It names no data
//! itself and is useless on another tenant or booking.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LinkSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(<secret>)")
    }
}

impl LinkSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, tenant: Uuid, booking: Uuid, expires: i64) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.secret).ok()?;
        mac.update(tenant.as_bytes());
        mac.update(booking.as_bytes());
        mac.update(&expires.to_be_bytes());
        Some(mac)
    }

    pub fn sign(&self, tenant: Uuid, booking: Uuid, expires: i64) -> String {
        let tag = self
            .mac(tenant, booking, expires)
            .map(|m| m.finalize().into_bytes().to_vec());
        format!(
            "{expires}.{}",
            URL_SAFE_NO_PAD.encode(tag.unwrap_or_default())
        )
    }

    /// Whether `token` is a valid, unexpired link to `booking` of `tenant` at `now`.
    pub fn verify(&self, token: &str, tenant: Uuid, booking: Uuid, now: i64) -> bool {
        let Some((expires, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), URL_SAFE_NO_PAD.decode(tag)) else {
            return false;
        };
        expires > now
            && self
                .mac(tenant, booking, expires)
                .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_for_their_booking_tenant_and_time() {
        let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
        let (t, b) = (Uuid::new_v4(), Uuid::new_v4());
        let token = signer.sign(t, b, 2_000);
        assert!(signer.verify(&token, t, b, 1_000));
        assert!(!signer.verify(&token, t, b, 2_000), "expired");
        assert!(
            !signer.verify(&token, Uuid::new_v4(), b, 1_000),
            "other tenant"
        );
        assert!(
            !signer.verify(&token, t, Uuid::new_v4(), 1_000),
            "other booking"
        );
        assert!(
            !signer.verify(&token.replace("2000.", "9999."), t, b, 1_000),
            "forged expiry"
        );
        assert!(!LinkSigner::new(b"another secret, 32 bytes long!!!").verify(&token, t, b, 1_000));
        assert!(!signer.verify("garbage", t, b, 1_000));
    }
}
