//! SIP: our message layer, transactions, the user agent server and SDP offer/answer.

pub mod admission;
pub mod digest;
pub mod endpoint;
pub mod header;
pub mod message;
pub mod outbound_call;
pub mod registration;
pub mod sdes;
pub mod sdp;
pub mod shard;
pub mod stream;
pub mod transaction;
pub mod transport;
