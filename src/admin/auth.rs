//! Who may use the admin API and pages: a bearer token kept in the data directory, compared
//! in constant time, and short-lived browser sessions with CSRF tokens for the web pages.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::TryRng;
use subtle::ConstantTimeEq;

/// File name of the admin token inside the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// File name, inside the data directory, of the running bridge's admin API URL: written by
/// `serve` once it listens, read by `dialbridge meetings`.
pub const ADMIN_URL_FILE: &str = "admin-url";
/// A signed-in browser session lasts this long.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// At most this many browser sessions are kept (oldest dropped first).
const MAX_SESSIONS: usize = 1000;

/// Why the admin token could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading the token file failed.
    #[error("cannot read the admin token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Creating the token file failed.
    #[error("cannot create the admin token file {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is readable by others.
    #[error(
        "the admin token file {path} is readable by group or others (mode {mode:o}): run chmod 600 on it"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The file holds no usable token.
    #[error(
        "the admin token file {path} is empty or too short (at least 32 characters): delete it to get a new one"
    )]
    TooShort {
        /// The file.
        path: PathBuf,
    },
    /// The OS random source failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// Random bytes as lower-case hex; used for tokens, session ids and CSRF tokens.
pub fn random_hex(bytes: usize) -> Result<String, TokenError> {
    let mut buf = vec![0u8; bytes];
    rand::rngs::SysRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| TokenError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The admin bearer token.
pub struct AdminToken {
    token: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// Loads `DATA_DIR/admin-token`, creating it (mode 0600, random) at first start.
    pub fn load_or_create(data_dir: &Path) -> Result<AdminToken, TokenError> {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mode = std::fs::metadata(&path)
                    .map_err(|source| TokenError::Read {
                        path: path.clone(),
                        source,
                    })?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(TokenError::Permissions {
                        path,
                        mode: mode & 0o777,
                    });
                }
                let token = text.trim().to_string();
                if token.len() < 32 {
                    return Err(TokenError::TooShort { path });
                }
                Ok(AdminToken {
                    token: zeroize::Zeroizing::new(token),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = random_hex(32)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|source| TokenError::Create {
                        path: path.clone(),
                        source,
                    })?;
                file.write_all(format!("{token}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|source| TokenError::Create {
                        path: path.clone(),
                        source,
                    })?;
                tracing::info!(path = %path.display(), "created the admin token file");
                Ok(AdminToken {
                    token: zeroize::Zeroizing::new(token),
                })
            }
            Err(source) => Err(TokenError::Read { path, source }),
        }
    }

    /// A token for tests.
    pub fn from_string(token: String) -> AdminToken {
        AdminToken {
            token: zeroize::Zeroizing::new(token),
        }
    }

    /// Constant-time check of a presented token (length differences leak only the length).
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.token.as_bytes().ct_eq(presented.as_bytes()))
    }
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// Signed-in admin browser sessions, keyed by a random id held in an HttpOnly cookie.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session; returns (session id, CSRF token).
    pub fn create(&self, now: Instant) -> Result<(String, String), TokenError> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                expires: now + SESSION_LIFETIME,
            },
        );
        Ok((id, csrf))
    }

    /// The CSRF token of a live session.
    pub fn csrf(&self, now: Instant, id: &str) -> Option<String> {
        self.lock()
            .get(id)
            .filter(|s| s.expires > now)
            .map(|s| s.csrf.clone())
    }

    /// True if the session is live and `csrf` is its token (constant-time).
    pub fn check(&self, now: Instant, id: &str, csrf: &str) -> bool {
        self.csrf(now, id)
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(csrf.as_bytes())))
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_created_owner_only_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let t = AdminToken::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(t.matches(text.trim()));
        let again = AdminToken::load_or_create(dir.path()).unwrap();
        assert!(again.matches(text.trim()));
        assert!(!again.matches("wrong"));
        assert!(!again.matches(""));
        assert_eq!(format!("{again:?}"), "AdminToken(..)");
    }

    #[test]
    fn a_group_readable_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        AdminToken::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(ADMIN_TOKEN_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            AdminToken::load_or_create(dir.path()),
            Err(TokenError::Permissions { .. })
        ));
    }

    #[test]
    fn sessions_check_csrf_and_expire() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let (id, csrf) = s.create(t0).unwrap();
        assert!(s.check(t0, &id, &csrf));
        assert!(!s.check(t0, &id, "forged"));
        assert!(!s.check(t0, "unknown", &csrf));
        assert!(!s.check(t0 + SESSION_LIFETIME, &id, &csrf), "expired");
        s.remove(&id);
        assert!(!s.check(t0, &id, &csrf));
    }
}
