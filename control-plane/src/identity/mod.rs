//! Identity: the control plane is the platform's identity provider. Users and their
//! passwords, sign-in with lockout, sessions with rotating refresh tokens, the signing
//! keys and JWKS behind access tokens, and the single-use tokens sent by email.

pub mod cleanup;
pub mod invitations;
pub mod keyring;
pub mod onetime;
pub mod outbox;
pub mod password;
mod sealing;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use keyring::KeyRing;
pub use sessions::{ClientInfo, IssuedTokens, SessionKind};
pub use users::User;
