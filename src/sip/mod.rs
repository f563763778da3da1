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

/// `len` random lowercase hex digits from `rng`: tags, branches and Call-IDs of the requests
/// the bridge sends, unpredictable to anyone on the path when `rng` is seeded from the OS.
pub(crate) fn random_hex(rng: &mut rand::rngs::StdRng, len: usize) -> String {
    use rand::RngExt;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(HEX[usize::from(rng.random::<u8>() & 0x0f)]))
        .collect()
}
