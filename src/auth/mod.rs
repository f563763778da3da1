//! Organizer authentication: PIN policy, generation, keyed tags and verification.
//!
//! `lockout` bounds PIN guessing across calls. Nothing in this module touches the network
//! or the database, so it can run anywhere on the call path.

pub mod guessing;
pub mod lockout;
pub mod pin;
