//! The I/O around `sip::registration`: reading password files and resolving registrars at
//! start, opening TCP connections to registrars, and turning registration events into log
//! lines and `/metrics` figures. The protocol itself is all in the sans-IO core.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::telemetry::{RegistrationGauge, SipGauges};
use crate::config::{RegisterAccount, ServeConfig};
use crate::sip::digest::Password;
use crate::sip::registration::{
    Aor, AorError, Registration, RegistrationConfig, RegistrationEvent, Registrations,
};
use crate::sip::transaction::Timers;
use crate::sip::transport::{Peer, Transport};

/// How long opening a TCP connection to a registrar may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest password file read.
const MAX_PASSWORD_FILE: u64 = 4096;

/// Why registration cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationSetupError {
    /// The address of record is unusable.
    #[error("--register: {0}")]
    Aor(#[from] AorError),
    /// No password file was given.
    #[error(
        "--register {aor}: no password file; give --register-password-file FILE (or password_file in its [[register]] table)"
    )]
    NoPassword {
        /// The address of record.
        aor: String,
    },
    /// The password file cannot be read.
    #[error("cannot read the registration password file {path}: {source}")]
    ReadPassword {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Others than the owner may read the password file.
    #[error(
        "the registration password file {path} can be read by others than its owner (mode {mode:03o}); make it owner-only: chmod 600 {path}"
    )]
    PasswordFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The password file is empty or too large to be a password.
    #[error("the registration password file {path} holds no password (empty, or over 4 KiB)")]
    BadPassword {
        /// The file.
        path: PathBuf,
    },
    /// The CA file for registrars over TLS is unusable.
    #[error("--register-ca {path}: {why}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A registrar's name cannot be checked against a certificate.
    #[error("--register {aor}: {host} is not a name a TLS certificate can be checked against")]
    ServerName {
        /// The address of record.
        aor: String,
        /// The host.
        host: String,
    },
    /// The registrar's host does not resolve.
    #[error("--register {aor}: cannot resolve the registrar {host}: {why}")]
    Resolve {
        /// The address of record.
        aor: String,
        /// The host.
        host: String,
        /// Why.
        why: String,
    },
}

/// An address of record checked and resolved, waiting for the bound SIP port.
#[derive(Debug)]
pub struct Prepared {
    account: RegisterAccount,
    aor: Aor,
    registrar: Peer,
    password: Password,
    /// The name its TLS certificate must carry (over TLS).
    server_name: Option<rustls_pki_types::ServerName<'static>>,
}

impl Prepared {
    /// The registrar's address, which counts as trusted for calls.
    pub fn registrar(&self) -> SocketAddr {
        self.registrar.addr
    }
}

/// Reads an owner-only password file: its first line, without the line break.
pub fn read_password(path: &Path) -> Result<Password, RegistrationSetupError> {
    use crate::secret_file::{SecretFileError, read_first_line};
    let path_buf = || path.to_path_buf();
    let line = read_first_line(path, MAX_PASSWORD_FILE).map_err(|err| match err {
        SecretFileError::Read(source) => RegistrationSetupError::ReadPassword {
            path: path_buf(),
            source,
        },
        SecretFileError::Mode { mode } => RegistrationSetupError::PasswordFileMode {
            path: path_buf(),
            mode,
        },
        SecretFileError::Shape { .. } => RegistrationSetupError::BadPassword { path: path_buf() },
    })?;
    // The line was read as text: it is UTF-8.
    let text = String::from_utf8(line.to_vec())
        .map_err(|_| RegistrationSetupError::BadPassword { path: path_buf() })?;
    Ok(Password::new(text))
}

/// Checks every address of record, reads its password and resolves its registrar with the
/// system resolver (an IP literal or a name; no DNS SRV/NAPTR), before anything is bound.
pub async fn prepare(config: &ServeConfig) -> Result<Vec<Prepared>, RegistrationSetupError> {
    let mut out = Vec::new();
    for account in &config.registrations {
        let aor = Aor::parse(&account.aor)?;
        let path =
            account
                .password_file
                .as_ref()
                .ok_or_else(|| RegistrationSetupError::NoPassword {
                    aor: account.aor.clone(),
                })?;
        let password = read_password(path)?;
        let host = aor.host.trim_start_matches('[').trim_end_matches(']');
        let port = aor.port_or_default();
        let resolve_err = |why: String| RegistrationSetupError::Resolve {
            aor: account.aor.clone(),
            host: aor.host.clone(),
            why,
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| resolve_err(e.to_string()))?
            .collect();
        // The SIP socket's address family decides which of the registrar's addresses we
        // can reach from it.
        let v4 = config.sip_listen.is_ipv4();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4() == v4)
            .or(addrs.first())
            .copied()
            .ok_or_else(|| resolve_err("no address".into()))?;
        let server_name = match aor.transport {
            Transport::Tls => Some(
                rustls_pki_types::ServerName::try_from(host.to_string()).map_err(|_| {
                    RegistrationSetupError::ServerName {
                        aor: account.aor.clone(),
                        host: aor.host.clone(),
                    }
                })?,
            ),
            _ => None,
        };
        out.push(Prepared {
            server_name,
            account: account.clone(),
            registrar: Peer {
                addr,
                transport: aor.transport,
            },
            aor,
            password,
        });
    }
    Ok(out)
}

/// The local address the kernel would use towards `peer` (connecting a UDP socket sends
/// nothing).
pub(super) fn local_ip_towards(peer: IpAddr) -> IpAddr {
    let unspecified: IpAddr = if peer.is_ipv4() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        IpAddr::from([0u16; 8])
    };
    std::net::UdpSocket::bind((unspecified, 0))
        .and_then(|s| s.connect((peer, 9)).map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .unwrap_or(peer)
}

/// Starts the registrations now that the SIP port is known, and their `/metrics` gauges.
pub fn start(
    prepared: Vec<Prepared>,
    config: &ServeConfig,
    sip: SocketAddr,
    sip_tls: Option<SocketAddr>,
    timers: Timers,
    gauges: &SipGauges,
) -> Registrations {
    let now = Instant::now();
    let bind_ip = config.sip_listen.ip();
    let list: Vec<Registration> = prepared
        .into_iter()
        .filter_map(|p| {
            let contact_ip = config.public_address.unwrap_or_else(|| {
                if bind_ip.is_unspecified() {
                    local_ip_towards(p.registrar.addr.ip())
                } else {
                    bind_ip
                }
            });
            let auth_user = p.account.auth_user.clone().unwrap_or(p.aor.user.clone());
            // Over TLS the Contact names our TLS port when we serve one, so a registrar that
            // opens a new connection for a call finds TLS there; else the SIP port (a
            // registrar that reuses the registration's connection does not look at it).
            let contact_port = match (p.registrar.transport, sip_tls) {
                (Transport::Tls, Some(tls)) => tls.port(),
                _ => sip.port(),
            };
            let reg = Registration::new(
                now,
                RegistrationConfig {
                    aor: p.account.aor.clone(),
                    registrar: p.registrar,
                    auth_user,
                    password: p.password,
                    expires: p.account.expires,
                    contact_ip,
                    contact_port,
                    fixed_address: config.public_address.is_some(),
                    timers,
                    user_agent: "dialbridge".into(),
                },
                rand::make_rng::<rand::rngs::StdRng>(),
            );
            match reg {
                Ok(r) => {
                    tracing::info!(aor = %p.account.aor, registrar = %p.registrar, contact = %std::net::SocketAddr::new(contact_ip, contact_port), "registering at the provider");
                    Some(r)
                }
                // Checked in `prepare` already.
                Err(err) => {
                    tracing::error!(error = %err, "cannot register");
                    None
                }
            }
        })
        .collect();
    let _ = gauges.registrations.set(
        list.iter()
            .map(|r| RegistrationGauge::new(r.aor()))
            .collect(),
    );
    Registrations::new(list)
}

/// Logs a registration event and publishes it in `/metrics`. Never logs a password: events
/// carry none.
pub(super) fn report(
    gauges: &Arc<SipGauges>,
    registrations: &Registrations,
    index: usize,
    event: &RegistrationEvent,
) {
    let aor = registrations
        .iter()
        .nth(index)
        .map(|r| r.aor().to_string())
        .unwrap_or_default();
    let gauge = gauges.registrations.get().and_then(|g| g.get(index));
    match event {
        RegistrationEvent::Registered { expires, contact } => {
            // Said once when the binding comes up; each refresh after that at debug.
            let was_up = gauge.is_some_and(|g| g.up.swap(1, Ordering::Relaxed) == 1);
            if was_up {
                tracing::debug!(%aor, %contact, expires_s = expires.as_secs(), "registration refreshed");
            } else {
                tracing::info!(%aor, %contact, expires_s = expires.as_secs(), "registered at the provider");
            }
        }
        RegistrationEvent::Failed { why, retry_in } => {
            tracing::warn!(%aor, code = why.code(), reason = %why, retry_in_s = retry_in.as_secs(), "registration failed");
            if let Some(g) = gauge {
                g.up.store(0, Ordering::Relaxed);
                g.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        RegistrationEvent::AddressLearned { addr } => {
            tracing::info!(%aor, public = %addr, "the registrar sees us at another address: registering that Contact");
        }
        RegistrationEvent::Unregistered => {
            tracing::info!(%aor, "unregistered from the provider");
            if let Some(g) = gauge {
                g.up.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// A finished connection to a registrar.
pub(super) enum Connected {
    /// TCP.
    Tcp(tokio::net::TcpStream),
    /// TLS, its handshake done and the registrar's certificate checked.
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// Outgoing TCP and TLS connections to registrars: opened on the first message for one,
/// which waits here until the connection is up.
pub(super) struct Connector {
    waiting: HashMap<SocketAddr, (Transport, Vec<Vec<u8>>)>,
    /// Over TLS: the client configuration and each registrar's name.
    tls: Option<Arc<rustls::ClientConfig>>,
    names: HashMap<SocketAddr, rustls_pki_types::ServerName<'static>>,
    done_tx: mpsc::UnboundedSender<(SocketAddr, std::io::Result<Connected>)>,
    /// Where finished connection attempts arrive.
    pub(super) done_rx: mpsc::UnboundedReceiver<(SocketAddr, std::io::Result<Connected>)>,
}

impl Connector {
    /// A connector for these registrations: with a TLS client configuration (the system's
    /// CAs and `ca`) when one of them registers over TLS.
    pub fn new(prepared: &[Prepared], ca: Option<&Path>) -> Result<Self, RegistrationSetupError> {
        let names: HashMap<_, _> = prepared
            .iter()
            .filter_map(|p| Some((p.registrar.addr, p.server_name.clone()?)))
            .collect();
        let tls = if names.is_empty() {
            None
        } else {
            Some(tls_client_config(ca)?)
        };
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(Connector {
            waiting: HashMap::new(),
            tls,
            names,
            done_tx,
            done_rx,
        })
    }

    /// Whether some registration uses TLS.
    pub fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Queues `bytes` for `peer`, opening a connection unless one is being opened.
    pub(super) fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        let addr = peer.addr;
        if let Some((_, queue)) = self.waiting.get_mut(&addr) {
            if queue.len() < 16 {
                queue.push(bytes);
            }
            return;
        }
        self.waiting.insert(addr, (peer.transport, vec![bytes]));
        let done = self.done_tx.clone();
        let tls = match peer.transport {
            Transport::Tls => self.tls.clone().zip(self.names.get(&addr).cloned()),
            _ => None,
        };
        let wants_tls = peer.transport == Transport::Tls;
        tokio::spawn(async move {
            let connect = async {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let _ = tcp.set_nodelay(true);
                match (wants_tls, tls) {
                    (false, _) => Ok(Connected::Tcp(tcp)),
                    (true, Some((config, name))) => {
                        let tls = tokio_rustls::TlsConnector::from(config)
                            .connect(name, tcp)
                            .await?;
                        Ok(Connected::Tls(Box::new(tls)))
                    }
                    (true, None) => {
                        Err(std::io::Error::other("no TLS settings for this registrar"))
                    }
                }
            };
            let result = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting timed out",
                )),
            };
            let _ = done.send((addr, result));
        });
    }

    /// The transport and the messages that waited for the connection to `addr`.
    pub(super) fn take(&mut self, addr: SocketAddr) -> (Transport, Vec<Vec<u8>>) {
        self.waiting
            .remove(&addr)
            .unwrap_or((Transport::Tcp, Vec::new()))
    }
}

/// The TLS client configuration for registrars: the system's CAs (Debian's
/// ca-certificates, through rustls-native-certs) and those in `ca`.
fn tls_client_config(
    ca: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, RegistrationSetupError> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    // A system store that cannot be read at all is not fatal when --register-ca is given.
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let bad = |why: String| RegistrationSetupError::Ca {
            path: path.to_path_buf(),
            why,
        };
        let mut added = 0;
        for cert in
            rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?
        {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in it".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistrationSetupError::Ca {
            path: ca.map(Path::to_path_buf).unwrap_or_default(),
            why: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TCP and TLS need connecting; UDP goes out of the SIP socket.
pub(super) fn needs_connection(transport: Transport) -> bool {
    transport != Transport::Udp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn password_files_must_be_owner_only_and_hold_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_password(&path).unwrap_err();
        assert!(matches!(
            err,
            RegistrationSetupError::PasswordFileMode { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(!err.to_string().contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pw = read_password(&path).unwrap();
        assert!(!format!("{pw:?}").contains("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            read_password(&path),
            Err(RegistrationSetupError::BadPassword { .. })
        ));
        assert!(matches!(
            read_password(&dir.path().join("missing")),
            Err(RegistrationSetupError::ReadPassword { .. })
        ));
    }
}
