//! InStudio's availability engine: from a staff member's weekly hours, dated exceptions and
//! existing bookings to the slots a client can book, in the salon's own time zone.
//!
//! Everything here is pure: callers load calendars, this crate only computes. Instants are
//! UTC; working hours are salon-local wall-clock times, converted per date so that DST days
//! have their real length (see [`working_intervals`]).

mod calendar;
mod error;
mod exception;
mod hours;
mod local_time;
mod query;
mod slots;
mod span;
mod working;

pub use calendar::{Busy, StaffCalendar};
pub use error::{Error, Result};
pub use exception::{Exception, ExceptionKind};
pub use hours::{TimeRange, WeeklyHours};
pub use query::{SlotQuery, SlotQueryParams};
pub use slots::{Slot, available_slots, fits};
pub use working::working_intervals;
