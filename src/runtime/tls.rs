//! SIP over TLS (RFC 3261 §26, RFC 5630): the certificate, key and client CA files made into a
//! rustls server configuration (TLS 1.2 and 1.3 only), checked at start, and swapped on
//! SIGHUP for the connections that follow; and the record of failed handshakes.
//!
//! Connections themselves are `sip_tcp`'s: TLS is only a different stream under the same
//! framing, limits and timeouts.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// Why the TLS files cannot be used. Each names the file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read TLS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate, or a broken one.
    #[error("no usable PEM certificate in {path}: {source}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// The file holds no PEM private key, or a broken one.
    #[error("no usable PEM private key in {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate's validity dates cannot be read.
    #[error("cannot read the validity dates of the certificate in {path}")]
    Unreadable {
        /// The file.
        path: PathBuf,
    },
    /// The certificate is past its notAfter date.
    #[error("the certificate in {path} has expired (notAfter is {days} days ago)")]
    Expired {
        /// The file.
        path: PathBuf,
        /// Whole days since it expired.
        days: i64,
    },
    /// The certificate's notBefore date is still to come.
    #[error("the certificate in {path} is not valid yet (notBefore is in the future)")]
    NotYetValid {
        /// The file.
        path: PathBuf,
    },
    /// The key is unusable or is not the certificate's.
    #[error("the private key in {key} cannot be used with the certificate in {cert}: {source}")]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The crypto provider lacks TLS 1.2 or 1.3 (a build problem, not a file's).
    #[error("TLS 1.2 and 1.3 are not available: {0}")]
    Versions(rustls::Error),
    /// A client CA certificate cannot be a trust anchor.
    #[error("cannot use the client CA certificates in {path}: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: ClientCaError,
    },
}

/// Why client CA certificates cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientCaError {
    /// A certificate is not a usable trust anchor.
    #[error("{0}")]
    Anchor(rustls::Error),
    /// No trust anchor was usable, or the verifier refused them.
    #[error("{0}")]
    Verifier(rustls::server::VerifierBuilderError),
}

/// The current TLS server configuration, swapped whole when the files are reloaded; each new
/// connection takes the one current when it is accepted, so a reload never touches a
/// connection (or a call) that is already up.
#[derive(Clone)]
pub struct TlsSettings {
    files: TlsFiles,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Loads and checks the files (see `load`).
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = load(&files, SystemTime::now())?;
        Ok(TlsSettings {
            files,
            current: Arc::new(RwLock::new(config)),
        })
    }

    /// The configuration for a connection accepted now.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the files again; on success new connections use them, on failure the current
    /// configuration stays and the error says which file is wrong.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = load(&self.files, SystemTime::now())?;
        match self.current.write() {
            Ok(mut guard) => *guard = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }
}

/// Reads the certificate chain, the key and (for mutual TLS) the client CAs into a server
/// configuration: TLS 1.2 and 1.3 only, the leaf certificate within its validity dates at
/// `now`, the key the certificate's.
pub fn load(files: &TlsFiles, now: SystemTime) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certs(&files.cert)?;
    if let Some(leaf) = chain.first() {
        check_validity(&files.cert, leaf, now)?;
    }
    // The key's PEM text is wiped when dropped; rustls keeps the parsed key.
    let key_pem = zeroize::Zeroizing::new(read(&files.key)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Key {
        path: files.key.clone(),
        source,
    })?;
    drop(key_pem);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Versions)?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let ca_error = |reason| TlsError::ClientCa {
                path: path.clone(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| ca_error(ClientCaError::Anchor(e)))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(ClientCaError::Verifier(e)))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let bad = |source| TlsError::Certificate {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    if certs.is_empty() {
        return Err(bad(rustls_pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn check_validity(path: &Path, cert: &CertificateDer<'_>, now: SystemTime) -> Result<(), TlsError> {
    let (not_before, not_after) = validity(cert).ok_or_else(|| TlsError::Unreadable {
        path: path.to_owned(),
    })?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    if now > not_after {
        return Err(TlsError::Expired {
            path: path.to_owned(),
            days: (now - not_after) / 86_400,
        });
    }
    if now < not_before {
        return Err(TlsError::NotYetValid {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// notBefore and notAfter of an X.509 certificate in seconds since 1970 (RFC 5280 §4.1):
/// Certificate → tbsCertificate → [version], serialNumber, signature, issuer, validity.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (cert, _) = der_item(der, 0x30)?;
    let (tbs, _) = der_item(cert, 0x30)?;
    let rest = match der_item(tbs, 0xa0) {
        Some((_, rest)) => rest,
        None => tbs,
    };
    let (_, rest) = der_item(rest, 0x02)?;
    let (_, rest) = der_item(rest, 0x30)?;
    let (_, rest) = der_item(rest, 0x30)?;
    let (validity, _) = der_item(rest, 0x30)?;
    let (not_before, rest) = der_time(validity)?;
    let (not_after, _) = der_time(rest)?;
    Some((not_before, not_after))
}

/// One DER item with this tag: its contents and what follows it.
fn der_item(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    rest.split_at_checked(len)
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in seconds since 1970.
fn der_time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (text, rest, year_digits) = match input.first()? {
        0x17 => der_item(input, 0x17).map(|(t, r)| (t, r, 2))?,
        0x18 => der_item(input, 0x18).map(|(t, r)| (t, r, 4))?,
        _ => return None,
    };
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if digits.len() != year_digits + 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |from: usize, len: usize| digits.get(from..from + len)?.parse::<i64>().ok();
    let mut year = num(0, year_digits)?;
    if year_digits == 2 {
        // RFC 5280 §4.1.2.5.1: 50-99 are 1950-1999, 00-49 are 2000-2049.
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (num(at, 2)?, num(at + 2, 2)?);
    let (hour, minute, second) = (num(at + 4, 2)?, num(at + 6, 2)?, num(at + 8, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Sources whose failed handshake has been logged, so each is logged once; bounded (forgotten
/// all at once when full, after which each is logged once more).
#[derive(Debug, Default)]
pub struct HandshakeLog {
    logged: HashSet<IpAddr>,
}

/// Sources remembered by `HandshakeLog`.
const HANDSHAKE_LOG_CAP: usize = 4096;

impl HandshakeLog {
    /// True the first time `source` fails a handshake (log it), false after.
    pub fn first_from(&mut self, source: IpAddr) -> bool {
        if self.logged.contains(&source) {
            return false;
        }
        if self.logged.len() >= HANDSHAKE_LOG_CAP {
            self.logged.clear();
        }
        self.logged.insert(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times_read_as_unix_seconds() {
        let utc = b"\x17\x0d491231235959Z";
        assert_eq!(der_time(utc).map(|t| t.0), Some(2_524_607_999));
        let utc_old = b"\x17\x0d700101000000Z";
        assert_eq!(der_time(utc_old).map(|t| t.0), Some(0));
        let general = b"\x18\x0f20500101000000Z";
        assert_eq!(der_time(general).map(|t| t.0), Some(2_524_608_000));
        assert_eq!(der_time(b"\x17\x0d4912312359xxZ"), None);
        assert_eq!(der_time(b"\x17\x0d49123123595"), None);
    }

    #[test]
    fn a_failed_handshake_is_logged_once_per_source_in_bounded_memory() {
        let mut log = HandshakeLog::default();
        let a = IpAddr::from([192, 0, 2, 1]);
        assert!(log.first_from(a));
        assert!(!log.first_from(a));
        for i in 0..(HANDSHAKE_LOG_CAP as u32 + 10) {
            log.first_from(IpAddr::from(i.to_be_bytes()));
        }
        assert!(log.logged.len() <= HANDSHAKE_LOG_CAP);
    }
}
