//! The process shells: everything that owns a socket, a thread or a clock. They drive the
//! sans-IO cores (the SIP endpoint, the media engine, the IVR) and talk to each other only
//! through channels.
//!
//! Three kinds of owner, each with its own state: the SIP task (endpoint, transactions,
//! dialogs), the media worker threads (RTP, IVR, meetings) and the control task (database,
//! PIN checks). `serve` starts them and the admin HTTP server.

mod call_rules;
mod cluster;
mod control;
pub mod events;
mod forward;
pub mod media;
mod raw_addr;
mod realtime;
mod recv_batch;
pub mod registration;
mod relay_legs;
mod send_batch;
pub mod serve;
pub mod shared_rtp;
mod sip;
pub mod sip_tcp;
pub mod telemetry;
pub mod tls;
mod uring_send;
pub mod webhooks;

use std::net::IpAddr;

/// One log line per attack-looking event, always in the same shape, for fail2ban and the
/// like (`contrib/fail2ban/filter.d/dialbridge.conf` matches it):
/// `WARN dialbridge::security: security event source=IP event=NAME`.
pub(crate) fn security_event(source: IpAddr, event: &'static str) {
    tracing::warn!(target: "dialbridge::security", %source, %event, "security event");
}
