//! The salon's booking domain: the state machine, cancellation policy, booking numbers,
//! signed guest links, and the services that plan, write and move bookings in the
//! tenant's schema.

pub mod calendars;
pub mod lifecycle;
pub mod links;
pub mod number;
pub mod payments;
pub mod plan;
pub mod policy;
pub mod status;
pub mod store;

pub use policy::CancellationPolicy;
pub use status::BookingStatus;
