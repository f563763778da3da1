//! dialbridge: a self-hosted SIP/RTP dial-in meeting bridge.
//!
//! Callers dial in over SIP, type a conference ID, and wait in the meeting's lobby with hold
//! music until the organizer authenticates with a PIN; then the whole lobby moves into the
//! mixed meeting at once. Protocol and call logic are sans-IO (`sip`, `engine`, `ivr`,
//! `bridge`); `runtime` holds the thin I/O shells around them.

pub mod admin;
pub mod auth;
pub mod backup;
pub mod bridge;
pub mod call;
pub mod cdr;
pub mod cluster;
pub mod config;
pub mod config_file;
pub mod directory;
pub mod engine;
pub mod ivr;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod runtime;
pub mod secret_file;
pub mod sip;
pub mod store;
