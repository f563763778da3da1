//! What a relay leg carries so the owner node lets it in: the conference, the caller's role
//! and the answering node, signed with the cluster's shared secret (HMAC-SHA256) over the
//! leg's SIP Call-ID and a timestamp, in one `X-Dialbridge-Leg` header.
//!
//! The answering node has already run the IVR (and checked an organizer's PIN); the owner
//! puts the leg straight into the conference as that role. Without a valid signature an
//! INVITE claiming to be a leg is refused: anyone who can reach a node's SIP port could
//! otherwise walk into any meeting as its organizer.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ivr::flow::Role;

/// The SIP header a relay leg's INVITE carries.
pub const LEG_HEADER: &str = crate::sip::endpoint::RELAY_LEG_HEADER;
/// How far a leg's timestamp may be from the owner's clock (either way).
pub const MAX_SKEW_S: u64 = 30;
/// The shortest cluster secret accepted.
pub const MIN_SECRET_LEN: usize = 32;
/// The longest secret file read.
const MAX_SECRET_FILE: u64 = 4096;
/// Conference IDs are digits, and never this long.
const MAX_CONFERENCE_ID_LEN: usize = 32;

/// The cluster's shared secret (`--cluster-secret-file`); never printed.
pub struct LegKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for LegKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegKey(…)")
    }
}

/// Why the cluster secret file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LegKeyError {
    /// Unreadable, readable by others, or not one line.
    #[error("the cluster secret file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: crate::secret_file::SecretFileError,
    },
    /// Too short to be a secret.
    #[error(
        "the cluster secret in {path} is shorter than {MIN_SECRET_LEN} characters: make one with `openssl rand -hex 32 > {path}` and copy it to every node"
    )]
    TooShort {
        /// The file.
        path: std::path::PathBuf,
    },
}

/// What a leg says about its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegClaim {
    /// The conference the caller reached.
    pub conference_id: String,
    /// As what (an organizer's PIN was checked by the answering node).
    pub role: Role,
    /// The node that answered the caller.
    pub node: String,
}

/// Why a leg was refused (logged; the INVITE gets 403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    /// The header does not parse.
    #[error("malformed relay leg header")]
    Malformed,
    /// The timestamp is too far from our clock (a replay, or clocks far apart).
    #[error("relay leg timestamp more than {MAX_SKEW_S} s from this node's clock")]
    Stale,
    /// The signature does not match (another secret, or a forgery).
    #[error("relay leg signature does not match this node's cluster secret")]
    BadSignature,
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Organizer => "organizer",
        Role::Attendee => "attendee",
    }
}

impl LegKey {
    /// Reads the owner-only secret file (its first line, at least 32 characters).
    pub fn load(path: &Path) -> Result<LegKey, LegKeyError> {
        let secret =
            crate::secret_file::read_first_line(path, MAX_SECRET_FILE).map_err(|source| {
                LegKeyError::File {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(LegKeyError::TooShort {
                path: path.to_path_buf(),
            });
        }
        Ok(LegKey(secret))
    }

    /// A key from bytes (tests, and tools that sign legs).
    pub fn from_bytes(secret: &[u8]) -> LegKey {
        LegKey(Zeroizing::new(secret.to_vec()))
    }

    fn mac(&self, claim: &LegClaim, ts: u64, call_id: &str) -> Hmac<Sha256> {
        // Any key length is accepted by HMAC; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        // Fields cannot contain the separator (checked when parsing and by the callers).
        for part in [
            "v1",
            &claim.conference_id,
            role_str(claim.role),
            &claim.node,
            &ts.to_string(),
            call_id,
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The header value for a leg with this SIP Call-ID, issued at `now_unix`.
    pub fn sign(&self, claim: &LegClaim, call_id: &str, now_unix: u64) -> String {
        let tag = self.mac(claim, now_unix, call_id).finalize().into_bytes();
        format!(
            "v1;conf={};role={};node={};ts={};mac={}",
            claim.conference_id,
            role_str(claim.role),
            claim.node,
            now_unix,
            hex::encode(tag)
        )
    }

    /// Checks a leg header received with this SIP Call-ID at `now_unix` (constant-time
    /// comparison of the signature).
    pub fn verify(&self, value: &str, call_id: &str, now_unix: u64) -> Result<LegClaim, LegError> {
        let mut fields = value.trim().split(';').map(str::trim);
        if fields.next() != Some("v1") {
            return Err(LegError::Malformed);
        }
        let (mut conf, mut role, mut node, mut ts, mut tag) = (None, None, None, None, None);
        for field in fields {
            let (name, v) = field.split_once('=').ok_or(LegError::Malformed)?;
            let slot = match name {
                "conf" => &mut conf,
                "role" => &mut role,
                "node" => &mut node,
                "ts" => &mut ts,
                "mac" => &mut tag,
                _ => return Err(LegError::Malformed),
            };
            if slot.replace(v).is_some() {
                return Err(LegError::Malformed);
            }
        }
        let conference_id = conf
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= MAX_CONFERENCE_ID_LEN
                    && c.bytes().all(|b| b.is_ascii_digit())
            })
            .ok_or(LegError::Malformed)?;
        let role = match role {
            Some("organizer") => Role::Organizer,
            Some("attendee") => Role::Attendee,
            _ => return Err(LegError::Malformed),
        };
        let node = node
            .and_then(|n| super::parse_node_name(n).ok())
            .ok_or(LegError::Malformed)?;
        let ts: u64 = ts.and_then(|t| t.parse().ok()).ok_or(LegError::Malformed)?;
        let tag = tag
            .and_then(|t| hex::decode(t).ok())
            .ok_or(LegError::Malformed)?;
        if ts.abs_diff(now_unix) > MAX_SKEW_S {
            return Err(LegError::Stale);
        }
        let claim = LegClaim {
            conference_id: conference_id.to_string(),
            role,
            node,
        };
        self.mac(&claim, ts, call_id)
            .verify_slice(&tag)
            .map_err(|_| LegError::BadSignature)?;
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_500_000;

    fn claim(role: Role) -> LegClaim {
        LegClaim {
            conference_id: "4711".into(),
            role,
            node: "node-b".into(),
        }
    }

    fn key() -> LegKey {
        LegKey::from_bytes(&[7; 32])
    }

    #[test]
    fn a_signed_leg_verifies_on_a_node_with_the_same_secret() {
        let header = key().sign(&claim(Role::Organizer), "abc@10.0.0.1", NOW);
        assert_eq!(
            key().verify(&header, "abc@10.0.0.1", NOW + 2),
            Ok(claim(Role::Organizer))
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let header = key().sign(&claim(Role::Attendee), "abc", NOW);
        // Promoting oneself to organizer.
        let promoted = header.replace("role=attendee", "role=organizer");
        assert_eq!(
            key().verify(&promoted, "abc", NOW),
            Err(LegError::BadSignature)
        );
        // Another meeting.
        let moved = header.replace("conf=4711", "conf=4712");
        assert_eq!(
            key().verify(&moved, "abc", NOW),
            Err(LegError::BadSignature)
        );
        // The header copied into another call.
        assert_eq!(
            key().verify(&header, "other", NOW),
            Err(LegError::BadSignature)
        );
        // Another cluster's secret.
        let other = LegKey::from_bytes(&[8; 32]);
        assert_eq!(
            other.verify(&header, "abc", NOW),
            Err(LegError::BadSignature)
        );
    }

    #[test]
    fn old_or_future_legs_are_refused() {
        let header = key().sign(&claim(Role::Attendee), "abc", NOW);
        assert!(key().verify(&header, "abc", NOW + MAX_SKEW_S).is_ok());
        assert_eq!(
            key().verify(&header, "abc", NOW + MAX_SKEW_S + 1),
            Err(LegError::Stale)
        );
        assert_eq!(
            key().verify(&header, "abc", NOW - MAX_SKEW_S - 1),
            Err(LegError::Stale)
        );
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        for bad in [
            "",
            "v2;conf=1;role=attendee;node=a;ts=1;mac=00",
            "v1;conf=;role=attendee;node=a;ts=1;mac=00",
            "v1;conf=12a;role=attendee;node=a;ts=1;mac=00",
            "v1;conf=1;role=boss;node=a;ts=1;mac=00",
            "v1;conf=1;role=attendee;node=a b;ts=1;mac=00",
            "v1;conf=1;role=attendee;node=a;ts=x;mac=00",
            "v1;conf=1;role=attendee;node=a;ts=1;mac=zz",
            "v1;conf=1;conf=2;role=attendee;node=a;ts=1;mac=00",
            "v1;conf=1;role=attendee;node=a;ts=1",
            "v1;conf=1;role=attendee;node=a;ts=1;mac=00;extra=1",
            "v1;;;",
        ] {
            assert_eq!(
                key().verify(bad, "abc", NOW),
                Err(LegError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_secret_never_prints_and_short_ones_are_refused() {
        assert_eq!(format!("{:?}", key()), "LegKey(…)");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "short\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = LegKey::load(&path).expect_err("short");
        assert!(matches!(err, LegKeyError::TooShort { .. }));
        assert!(!err.to_string().contains("short\n"));
        std::fs::write(&path, format!("{}\n", "k".repeat(64))).expect("write");
        assert!(LegKey::load(&path).is_ok());
    }
}
