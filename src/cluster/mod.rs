//! Several bridge nodes on one PostgreSQL directory: each node's identity and heartbeat, and
//! which node hosts each active meeting, so that a meeting's lobby and mix live on one node.

pub mod leg;
pub mod ownership;

use std::time::Duration;

/// How often a node beats and renews its meeting leases.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a lease lasts past its last renewal: an owner that died is replaceable this long
/// after its last renewal (so within `LEASE + RENEW_EVERY` of its death, under 5 s).
pub const LEASE: Duration = Duration::from_secs(3);
/// A node whose heartbeat is older than this is shown as gone, and its name may be reused.
pub const NODE_GONE_AFTER: Duration = Duration::from_secs(5);
/// A claim made for a caller still in the IVR (typing the PIN) is kept this long even though
/// no room exists yet.
pub const CLAIM_GRACE: Duration = Duration::from_secs(120);

// A dead owner is replaceable within 5 s, and a node is shown gone only after its leases ran out.
const _: () = assert!(LEASE.as_millis() + RENEW_EVERY.as_millis() < 5_000);
const _: () = assert!(NODE_GONE_AFTER.as_millis() > LEASE.as_millis());

/// Who this node is in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Unique in the cluster (`--node-name`, default the host name).
    pub name: String,
    /// Where other nodes send it SIP (`--cluster-advertise`, default the SIP listen address).
    pub advertise: String,
}

/// Why a `--node-name` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeNameError {
    /// Empty, too long or with characters outside `A-Za-z0-9.-_`.
    #[error(
        "the node name must be 1 to 63 characters of letters, digits, '.', '-' or '_' (e.g. bridge-1)"
    )]
    Invalid,
}

/// Checks a node name: it goes into SIP headers and log lines, so only plain characters.
pub fn parse_node_name(name: &str) -> Result<String, NodeNameError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(NodeNameError::Invalid)
    }
}

/// The machine's host name, the default node name (`node` if it cannot be read or used).
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| parse_node_name(h.trim()).ok())
        .unwrap_or_else(|| "node".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_plain() {
        assert_eq!(
            parse_node_name("bridge-1.dc2"),
            Ok("bridge-1.dc2".to_string())
        );
        for bad in ["", "a b", "a\r\nVia: x", &"x".repeat(64), "ä"] {
            assert_eq!(parse_node_name(bad), Err(NodeNameError::Invalid), "{bad:?}");
        }
        assert!(parse_node_name(&default_node_name()).is_ok());
    }
}
