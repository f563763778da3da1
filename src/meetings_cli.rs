//! `dialbridge meetings …`: the running meetings, seen and steered through the running
//! bridge's admin API (the meetings live in its media threads, not in the database). The
//! address comes from DATA_DIR/admin-url, which `serve` writes, and the token from
//! DATA_DIR/admin-token.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use dialbridge::admin::auth::{ADMIN_TOKEN_FILE, ADMIN_URL_FILE};

/// Longest answer read from the API (a list of thousands of callers fits easily).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// `dialbridge meetings`: without a subcommand, every meeting and lobby.
#[derive(Args, Debug)]
pub struct MeetingsArgs {
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The admin API's base URL (default: the one the running bridge wrote to DATA_DIR/admin-url).
    #[arg(long, global = true, value_name = "URL")]
    url: Option<String>,
    #[command(subcommand)]
    command: Option<MeetingsCommand>,
}

/// What to do to a meeting.
#[derive(Subcommand, Debug)]
enum MeetingsCommand {
    /// Show one meeting or lobby with every caller.
    Show {
        /// The conference ID.
        id: String,
    },
    /// Leave a participant out of the mix (they hear "You are muted").
    Mute {
        /// The conference ID.
        id: String,
        /// The participant's id (from `dialbridge meetings`).
        participant: u64,
    },
    /// Hear a participant again.
    Unmute {
        /// The conference ID.
        id: String,
        /// The participant's id.
        participant: u64,
    },
    /// Remove a caller: they hear "You have been removed from the meeting" and are hung up.
    Kick {
        /// The conference ID.
        id: String,
        /// The participant's id.
        participant: u64,
    },
    /// Let the whole lobby in (as *21), or one waiting caller (as *24 then 1).
    Admit {
        /// The conference ID.
        id: String,
        /// Only this waiting caller.
        participant: Option<u64>,
    },
    /// Send one waiting caller away (as *24 then 2).
    Deny {
        /// The conference ID.
        id: String,
        /// The waiting caller's id.
        participant: u64,
    },
    /// Newcomers wait in the lobby until let in.
    Lock {
        /// The conference ID.
        id: String,
    },
    /// Newcomers go straight in again.
    Unlock {
        /// The conference ID.
        id: String,
    },
    /// End the meeting: everyone hears "The meeting has ended" and is hung up.
    End {
        /// The conference ID.
        id: String,
    },
}

/// Why a meetings command failed.
#[derive(Debug, thiserror::Error)]
pub enum MeetingsError {
    /// No bridge wrote its admin address here.
    #[error(
        "no running bridge serves the admin API for {data_dir} (no {data_dir}/{ADMIN_URL_FILE}): start `dialbridge serve --http-listen IP:PORT` with this --data-dir, or pass --url"
    )]
    NoServer {
        /// The data directory looked in.
        data_dir: String,
    },
    /// The token file is missing or unreadable.
    #[error("cannot read the admin token {path}: {source}")]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The URL is not one this client speaks.
    #[error("cannot use the admin URL {url:?}: give it as http://HOST:PORT")]
    Url {
        /// The URL.
        url: String,
    },
    /// Nothing answers at the address.
    #[error("no bridge answers at {url} ({source}): is `dialbridge serve` running?")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        source: std::io::Error,
    },
    /// The answer did not come or made no sense.
    #[error("the bridge at {url} gave no usable answer: {reason}")]
    Answer {
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The bridge refused (unknown meeting, a control that does not apply…).
    #[error("{message} (HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error message.
        message: String,
    },
    /// Printing failed.
    #[error("cannot write output: {0}")]
    Output(#[source] std::io::Error),
}

/// Runs `dialbridge meetings …`.
pub fn run(data_dir: &Path, args: MeetingsArgs) -> Result<(), MeetingsError> {
    let api = Api::find(data_dir, args.url.as_deref())?;
    let post = |id: &str, what: &str| {
        api.call(
            "POST",
            &format!("/api/meetings/{}/{what}", path_segment(id)),
        )
    };
    let post_one = |id: &str, participant: u64, what: &str| {
        api.call(
            "POST",
            &format!(
                "/api/meetings/{}/participants/{participant}/{what}",
                path_segment(id)
            ),
        )
    };
    let answer = match &args.command {
        None => api.call("GET", "/api/meetings")?,
        Some(MeetingsCommand::Show { id }) => {
            api.call("GET", &format!("/api/meetings/{}", path_segment(id)))?
        }
        Some(MeetingsCommand::Mute { id, participant }) => post_one(id, *participant, "mute")?,
        Some(MeetingsCommand::Unmute { id, participant }) => post_one(id, *participant, "unmute")?,
        Some(MeetingsCommand::Kick { id, participant }) => post_one(id, *participant, "kick")?,
        Some(MeetingsCommand::Admit {
            id,
            participant: Some(p),
        }) => post_one(id, *p, "admit")?,
        Some(MeetingsCommand::Admit {
            id,
            participant: None,
        }) => post(id, "admit")?,
        Some(MeetingsCommand::Deny { id, participant }) => post_one(id, *participant, "deny")?,
        Some(MeetingsCommand::Lock { id }) => post(id, "lock")?,
        Some(MeetingsCommand::Unlock { id }) => post(id, "unlock")?,
        Some(MeetingsCommand::End { id }) => post(id, "end")?,
    };
    let text = if args.json {
        answer.to_string()
    } else {
        match &answer {
            Value::Array(meetings) if meetings.is_empty() => "no meetings or lobbies".to_string(),
            Value::Array(meetings) => meetings
                .iter()
                .map(meeting_text)
                .collect::<Vec<_>>()
                .join("\n"),
            one => meeting_text(one),
        }
    };
    writeln!(std::io::stdout(), "{text}").map_err(MeetingsError::Output)
}

/// A conference ID as one URL path segment: digits pass, anything else is percent-encoded.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One meeting and its callers, as lines of text.
fn meeting_text(m: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let people = m["participants"].as_array().cloned().unwrap_or_default();
    let waiting = people.iter().filter(|p| p["state"] == "lobby").count();
    let mut lines = vec![format!(
        "{}  {}{}  organizer {}  started {}  {} in the meeting, {} waiting",
        s(&m["conference_id"]),
        s(&m["state"]),
        if m["locked"] == true { " (locked)" } else { "" },
        m["organizer_id"]
            .as_i64()
            .map_or("-".to_string(), |i| i.to_string()),
        s(&m["started_at"]),
        people.len() - waiting,
        waiting,
    )];
    for p in &people {
        let mut flags = Vec::new();
        for (key, word) in [
            ("muted", "muted"),
            ("talking", "talking"),
            ("hand_raised", "hand raised"),
        ] {
            if p[key] == true {
                flags.push(word);
            }
        }
        lines.push(format!(
            "  {:>6}  {:<9}  {:<7}  {:<4}  joined {}  {}{}{}",
            p["id"].as_u64().unwrap_or_default(),
            s(&p["role"]),
            s(&p["state"]),
            s(&p["codec"]),
            s(&p["joined_at"]),
            s(&p["from"]),
            if flags.is_empty() { "" } else { "  " },
            flags.join(", "),
        ));
    }
    lines.join("\n")
}

/// The running bridge's admin API, over plain HTTP/1.1.
struct Api {
    url: String,
    host: String,
    token: String,
}

impl Api {
    fn find(data_dir: &Path, url: Option<&str>) -> Result<Api, MeetingsError> {
        let url = match url {
            Some(u) => u.to_string(),
            None => std::fs::read_to_string(data_dir.join(ADMIN_URL_FILE))
                .map_err(|_| MeetingsError::NoServer {
                    data_dir: data_dir.display().to_string(),
                })?
                .trim()
                .to_string(),
        };
        let host = url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| MeetingsError::Url { url: url.clone() })?
            .to_string();
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        let token = std::fs::read_to_string(&path)
            .map_err(|source| MeetingsError::Token { path, source })?
            .trim()
            .to_string();
        Ok(Api { url, host, token })
    }

    /// One request; the JSON answer, or the API's error message.
    fn call(&self, method: &str, path: &str) -> Result<Value, MeetingsError> {
        let connect = |source| MeetingsError::Connect {
            url: self.url.clone(),
            source,
        };
        let answer = |reason: String| MeetingsError::Answer {
            url: self.url.clone(),
            reason,
        };
        let addr = self
            .host
            .to_socket_addrs()
            .map_err(connect)?
            .next()
            .ok_or_else(|| MeetingsError::Url {
                url: self.url.clone(),
            })?;
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(connect)?;
        let timeout = Some(Duration::from_secs(15));
        let io = |e: std::io::Error| answer(e.to_string());
        stream.set_read_timeout(timeout).map_err(io)?;
        stream.set_write_timeout(timeout).map_err(io)?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.host, self.token
        );
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut raw).map_err(io)?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| answer("no HTTP header".into()))?;
        let head = String::from_utf8_lossy(raw.get(..split).unwrap_or_default()).to_string();
        let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| answer("no HTTP status".into()))?;
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body).ok_or_else(|| answer("a broken chunked body".into()))?;
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| answer(format!("not JSON (HTTP {status}): {e}")))?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(MeetingsError::Refused {
                status,
                message: value["error"]
                    .as_str()
                    .unwrap_or("refused without a reason")
                    .to_string(),
            })
        }
    }
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(raw.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = raw.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_put_together() {
        assert_eq!(
            dechunk(b"3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n").as_deref(),
            Some(&b"[1,2]"[..])
        );
        assert_eq!(dechunk(b"5\r\nab"), None);
    }

    #[test]
    fn conference_ids_are_one_path_segment() {
        assert_eq!(path_segment("123456789"), "123456789");
        assert_eq!(path_segment("1/../x"), "1%2F%2E%2E%2Fx");
    }
}
