//! Call detail records: one JSON object per line for every answered call — who called,
//! when, which conference and as what, how long, and why it ended. Never a PIN or any
//! digit typed.
//!
//! The record is built from what the SIP side (caller, start, end) and the media side
//! (conference, role, the IVR's reason to hang up) report, and written when the call ends.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::call::{CallId, EndReason};
use crate::engine::HangupReason;
use crate::ivr::flow::{HangupCause, Role};

/// Why the CDR file cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write call detail records to {path}: {source}")]
pub struct CdrError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// One finished call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    /// The SIP Call-ID.
    pub call_id: String,
    /// The calling number (From user), if any.
    pub from: Option<String>,
    /// Where the INVITE came from.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: &'static str,
    /// When the call was answered, Unix seconds (with milliseconds).
    pub started_at: f64,
    /// When it ended.
    pub ended_at: f64,
    /// Seconds between the two.
    pub duration_s: f64,
    /// The conference the caller reached, if they got that far.
    pub conference_id: Option<String>,
    /// `organizer` or `attendee`, once known.
    pub role: Option<&'static str>,
    /// Who ended it: `caller` or `bridge`.
    pub ended_by: &'static str,
    /// Why, e.g. `caller-bye`, `rtp-timeout`, `pin-attempts`, `conference-id-attempts`,
    /// `guessing`, `lobby-timeout`, `denied`, `shutdown`, `ack-timeout`, `cancelled`.
    pub cause: &'static str,
}

/// What is known of a call in progress.
#[derive(Debug, Clone)]
struct Open {
    call_id: String,
    from: Option<String>,
    source: SocketAddr,
    transport: &'static str,
    started_at: f64,
    conference_id: Option<String>,
    role: Option<Role>,
    bridge_cause: Option<&'static str>,
}

/// Collects calls in progress and writes each record when its call ends.
pub struct CdrLog {
    open: HashMap<CallId, Open>,
    out: Option<(PathBuf, std::fs::File)>,
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

impl CdrLog {
    /// Appends to `path` (created owner-only if missing); None writes nothing.
    pub fn open(path: Option<&Path>) -> Result<Self, CdrError> {
        let out = match path {
            None => None,
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(p)
                    .map_err(|source| CdrError {
                        path: p.to_path_buf(),
                        source,
                    })?;
                Some((p.to_path_buf(), file))
            }
        };
        Ok(CdrLog {
            open: HashMap::new(),
            out,
        })
    }

    /// The SIP side answered a call.
    pub fn started(
        &mut self,
        call: CallId,
        call_id: String,
        from: Option<String>,
        source: SocketAddr,
        transport: &'static str,
    ) {
        self.open.insert(
            call,
            Open {
                call_id,
                from,
                source,
                transport,
                started_at: now_unix(),
                conference_id: None,
                role: None,
                bridge_cause: None,
            },
        );
    }

    /// The caller got through the IVR.
    pub fn joined(&mut self, call: CallId, conference_id: String, role: Role) {
        if let Some(c) = self.open.get_mut(&call) {
            c.conference_id = Some(conference_id);
            c.role = Some(role);
        }
    }

    /// The media side asked to hang up, and why.
    pub fn bridge_hangup(&mut self, call: CallId, reason: HangupReason) {
        if let Some(c) = self.open.get_mut(&call) {
            c.bridge_cause.get_or_insert(match reason {
                HangupReason::RtpTimeout => "rtp-timeout",
                HangupReason::RelayEnded => "relay-ended",
                HangupReason::Ivr(HangupCause::ConferenceIdAttempts) => "conference-id-attempts",
                HangupReason::Ivr(HangupCause::PinAttempts) => "pin-attempts",
                HangupReason::Ivr(HangupCause::Guessing) => "guessing",
                HangupReason::Ivr(HangupCause::Shutdown) => "shutdown",
                HangupReason::Ivr(HangupCause::LobbyTimeout) => "lobby-timeout",
                HangupReason::Ivr(HangupCause::Denied) => "denied",
                HangupReason::Ivr(HangupCause::Removed) => "removed",
                HangupReason::Ivr(HangupCause::MeetingEnded) => "meeting-ended",
                HangupReason::Ivr(HangupCause::DirectoryUnavailable) => "directory-unavailable",
            });
        }
    }

    /// The call is over: its record, written to the file (a write error is logged, never
    /// fatal: calls matter more than their records).
    pub fn ended(&mut self, call: CallId, reason: EndReason) -> Option<Record> {
        let c = self.open.remove(&call)?;
        let ended_at = now_unix();
        let (ended_by, cause) = match reason {
            EndReason::RemoteBye => ("caller", "caller-bye"),
            EndReason::Cancelled => ("caller", "cancelled"),
            EndReason::AckTimeout => ("bridge", "ack-timeout"),
            EndReason::Rejected => ("bridge", "rejected"),
            EndReason::LocalHangup => ("bridge", c.bridge_cause.unwrap_or("hangup")),
        };
        let record = Record {
            call_id: c.call_id,
            from: c.from,
            source: c.source.to_string(),
            transport: c.transport,
            started_at: c.started_at,
            ended_at,
            duration_s: ((ended_at - c.started_at) * 1000.0).round() / 1000.0,
            conference_id: c.conference_id,
            role: c.role.map(|r| match r {
                Role::Organizer => "organizer",
                Role::Attendee => "attendee",
            }),
            ended_by,
            cause,
        };
        if let Some((path, file)) = &mut self.out
            && let Ok(mut line) = serde_json::to_vec(&record)
        {
            line.push(b'\n');
            if let Err(err) = file.write_all(&line) {
                tracing::error!(path = %path.display(), error = %err, "cannot write a call detail record");
            }
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_says_who_what_and_why_and_lands_as_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cdr.jsonl");
        let mut log = CdrLog::open(Some(&path)).unwrap();
        let src: SocketAddr = "192.0.2.7:5060".parse().unwrap();
        log.started(
            CallId(1),
            "a@b".into(),
            Some("+15550100".into()),
            src,
            "udp",
        );
        log.joined(CallId(1), "123456789".into(), Role::Organizer);
        log.started(CallId(2), "c@d".into(), None, src, "tcp");
        log.bridge_hangup(CallId(2), HangupReason::Ivr(HangupCause::PinAttempts));
        log.bridge_hangup(CallId(2), HangupReason::RtpTimeout);
        log.started(CallId(3), "e@f".into(), None, src, "udp");
        log.joined(CallId(3), "123456789".into(), Role::Attendee);
        log.bridge_hangup(CallId(3), HangupReason::Ivr(HangupCause::Denied));
        let one = log.ended(CallId(1), EndReason::RemoteBye).unwrap();
        let two = log.ended(CallId(2), EndReason::LocalHangup).unwrap();
        let three = log.ended(CallId(3), EndReason::LocalHangup).unwrap();
        assert_eq!(
            (three.ended_by, three.cause, three.role),
            ("bridge", "denied", Some("attendee")),
            "sent away from the lobby"
        );
        assert_eq!(log.ended(CallId(2), EndReason::LocalHangup), None, "once");
        assert_eq!(
            (
                one.ended_by,
                one.cause,
                one.role,
                one.conference_id.as_deref()
            ),
            ("caller", "caller-bye", Some("organizer"), Some("123456789"))
        );
        assert_eq!(
            (two.ended_by, two.cause),
            ("bridge", "pin-attempts"),
            "the first reason"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["transport"], "tcp");
        assert_eq!(lines[0]["from"], "+15550100");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
