//! Organizer authentication: PIN policy, generation, keyed tags and verification.
//!
//! Attempt limits and lockout will live beside `pin` here; nothing in this module touches
//! the network or the database, so it can run anywhere on the call path.

pub mod pin;
