//! The Stripe client lives in [`tenancy::stripe`], shared with the tenant runtime (booking
//! deposits); this module adds the control plane's configuration and error mapping.

pub use tenancy::stripe::{Failure, StripeApi, StripeConfig};

use serde_json::Value;

use crate::{Error, error::Result};

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Refused { message, .. } => Error::PaymentRefused(message),
            other => Error::PaymentProvider(other.to_string()),
        }
    }
}

/// A required string field of a Stripe object.
pub fn str_field<'a>(object: &'a Value, field: &str) -> Result<&'a str> {
    Ok(tenancy::stripe::str_field(object, field)?)
}
