//! Webhooks: every meeting event POSTed as JSON to each `--webhook-url`, signed with
//! HMAC-SHA256 of the raw body (`X-Dialbridge-Signature: sha256=<hex>`).
//!
//! At least once: the events task stores each event (one row per URL) before anything is
//! sent; one sender task per URL sends them in order, retries with growing backoff on errors,
//! non-2xx answers and timeouts, survives restarts (the rows stay), and drops an event only
//! once it is older than `--webhook-max-age` (counted and audited). The senders are tasks of
//! their own: a slow or dead receiver holds up nothing but its own queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::sync::Notify;

use super::telemetry::WebhookGauges;
use crate::config::WebhookSettings;
use crate::directory::{Actor, Directory};
use crate::store::WebhookDelivery;

/// One attempt (connect, TLS, request, answer's status line) gives up after this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// The longest secret file read.
const MAX_SECRET_FILE: u64 = 4096;

/// Why the webhook flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSetupError {
    /// A URL is not an absolute http:// or https:// URL.
    #[error("--webhook-url {url}: {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// URLs without a secret to sign with.
    #[error(
        "--webhook-url needs --webhook-secret-file FILE: every event is signed, and receivers check the signature"
    )]
    NoSecret,
    /// The secret file cannot be read.
    #[error("cannot read the webhook secret file {path}: {source}")]
    ReadSecret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Others than the owner may read the secret file.
    #[error(
        "the webhook secret file {path} can be read by others than its owner (mode {mode:03o}); make it owner-only: chmod 600 {path}"
    )]
    SecretFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The CA file cannot be used.
    #[error("--webhook-ca-file {path}: {why} (give a PEM file of CA certificates)")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The secret file holds no usable secret.
    #[error("the webhook secret file {path} holds no secret (empty first line, or over 4 KiB)")]
    BadSecret {
        /// The file.
        path: PathBuf,
    },
}

/// Where one webhook goes.
#[derive(Clone, Debug)]
struct Target {
    url: String,
    https: bool,
    host: String,
    port: u16,
    /// Path and query, as the request line carries them.
    path: String,
}

fn parse_url(url: &str) -> Result<Target, WebhookSetupError> {
    let bad = |why| WebhookSetupError::Url {
        url: url.to_string(),
        why,
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| bad("not a URL (e.g. https://hooks.example.net/dialbridge)"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(bad("only http:// and https:// URLs are supported")),
    };
    let authority = uri.authority().ok_or_else(|| bad("the URL has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "user names or passwords in the URL are not supported: the signature authenticates the bridge",
        ));
    }
    let host = uri.host().ok_or_else(|| bad("the URL has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(bad("the URL has no host"));
    }
    Ok(Target {
        url: url.to_string(),
        https,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        host,
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
    })
}

/// Reads an owner-only secret file: its first line, without the line break.
fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, WebhookSetupError> {
    use crate::secret_file::{SecretFileError, read_first_line};
    let path_buf = || path.to_path_buf();
    read_first_line(path, MAX_SECRET_FILE).map_err(|err| match err {
        SecretFileError::Read(source) => WebhookSetupError::ReadSecret {
            path: path_buf(),
            source,
        },
        SecretFileError::Mode { mode } => WebhookSetupError::SecretFileMode {
            path: path_buf(),
            mode,
        },
        SecretFileError::Shape { .. } => WebhookSetupError::BadSecret { path: path_buf() },
    })
}

/// Reads the CA certificates of `--webhook-ca-file`.
fn read_roots(
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, WebhookSetupError> {
    use rustls_pki_types::pem::PemObject;
    let bad = |why: String| WebhookSetupError::CaFile {
        path: path.to_path_buf(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    let mut store = rustls::RootCertStore::empty();
    for cert in &certs {
        store
            .add(cert.clone())
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(certs)
}

/// The signature header's value for a body: `sha256=<hex HMAC-SHA256>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The webhook flags, checked before anything is bound.
pub struct Prepared {
    targets: Vec<Target>,
    secret: zeroize::Zeroizing<Vec<u8>>,
    /// CA certificates trusted instead of the system's (`--webhook-ca-file`).
    roots: Option<Vec<rustls_pki_types::CertificateDer<'static>>>,
    max_age: Duration,
    retry_after: Duration,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("targets", &self.targets)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Checks the URLs and reads the secret; None when no webhook is configured.
pub fn prepare(settings: &WebhookSettings) -> Result<Option<Prepared>, WebhookSetupError> {
    if settings.urls.is_empty() {
        return Ok(None);
    }
    let targets = settings
        .urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<Vec<_>, _>>()?;
    let path = settings
        .secret_file
        .as_deref()
        .ok_or(WebhookSetupError::NoSecret)?;
    let roots = settings.ca_file.as_deref().map(read_roots).transpose()?;
    Ok(Some(Prepared {
        targets,
        secret: read_secret(path)?,
        roots,
        max_age: settings.max_age,
        retry_after: settings.retry_after,
    }))
}

/// The running webhooks: where events are stored, and the senders to wake.
pub struct Webhooks {
    directory: Directory,
    urls: Vec<String>,
    wake: Vec<Arc<Notify>>,
    gauges: Arc<WebhookGauges>,
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Webhooks {
    /// Starts one sender task per URL (they resume whatever an earlier run left stored).
    pub async fn start(
        prepared: Prepared,
        directory: Directory,
        gauges: Arc<WebhookGauges>,
    ) -> Arc<Webhooks> {
        let tls = if prepared.targets.iter().any(|t| t.https) {
            Some(client_tls(prepared.roots.clone()))
        } else {
            None
        };
        let secret: Arc<[u8]> = Arc::from(prepared.secret.as_slice());
        let mut wake = Vec::new();
        for target in &prepared.targets {
            let notify = Arc::new(Notify::new());
            wake.push(Arc::clone(&notify));
            let sender = Sender {
                target: target.clone(),
                secret: Arc::clone(&secret),
                tls: tls.clone(),
                directory: directory.clone(),
                gauges: Arc::clone(&gauges),
                wake: notify,
                max_age: prepared.max_age,
                retry_after: prepared.retry_after,
            };
            tokio::spawn(sender.run());
        }
        let webhooks = Arc::new(Webhooks {
            directory,
            urls: prepared.targets.iter().map(|t| t.url.clone()).collect(),
            wake,
            gauges,
        });
        webhooks.count_queued().await;
        tracing::info!(urls = webhooks.urls.len(), "webhooks on");
        webhooks
    }

    /// Stores an event for every URL, then wakes the senders.
    pub async fn enqueue(&self, event_id: &str, body: &str) {
        let now = unix_ms(SystemTime::now());
        if let Err(err) = self
            .directory
            .store()
            .enqueue_webhook(event_id, body, &self.urls, now)
            .await
        {
            if self.directory.store().is_closed() {
                // Stopping: the database is closed; events of the last moments are not sent.
                tracing::debug!(
                    event = event_id,
                    "bridge stopping: webhook event not stored"
                );
            } else {
                tracing::error!(error = %err, event = event_id, "cannot store a webhook event: it is not sent");
            }
            return;
        }
        self.count_queued().await;
        for w in &self.wake {
            w.notify_one();
        }
    }

    async fn count_queued(&self) {
        count_queued(&self.directory, &self.gauges).await;
    }
}

async fn count_queued(directory: &Directory, gauges: &WebhookGauges) {
    if let Ok(n) = directory.store().webhooks_queued().await {
        gauges
            .queued
            .store(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
    }
}

/// Server certificates are checked against `--webhook-ca-file`'s CAs, or the system's.
fn client_tls(
    configured: Option<Vec<rustls_pki_types::CertificateDer<'static>>>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = match configured {
        Some(certs) => certs,
        None => {
            let found = rustls_native_certs::load_native_certs();
            for err in &found.errors {
                tracing::warn!(error = %err, "reading the system's CA certificates for webhooks");
            }
            found.certs
        }
    };
    let (added, ignored) = roots.add_parsable_certificates(certs);
    tracing::debug!(added, ignored, "CA certificates for webhooks");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match config {
        Ok(c) => Arc::new(c),
        // The ring provider supports the default versions: this does not happen.
        Err(err) => unreachable!("ring supports TLS 1.2 and 1.3: {err}"),
    }
}

/// One URL's sender.
struct Sender {
    target: Target,
    secret: Arc<[u8]>,
    tls: Option<Arc<rustls::ClientConfig>>,
    directory: Directory,
    gauges: Arc<WebhookGauges>,
    wake: Arc<Notify>,
    max_age: Duration,
    retry_after: Duration,
}

/// The pause after `attempts` failed attempts: `first`, doubling, at most ten minutes.
pub fn backoff(first: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(16);
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

impl Sender {
    async fn run(self) {
        let store = self.directory.store().clone();
        loop {
            let next = match store.next_webhook(&self.target.url).await {
                Ok(next) => next,
                Err(_) if store.is_closed() => return,
                Err(err) => {
                    tracing::error!(error = %err, url = %self.target.url, "cannot read the webhook queue; trying again shortly");
                    tokio::time::sleep(self.retry_after).await;
                    continue;
                }
            };
            let Some(delivery) = next else {
                self.wake.notified().await;
                continue;
            };
            let now = unix_ms(SystemTime::now());
            let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
            if now.saturating_sub(delivery.created_at_ms) > max_age_ms {
                self.drop_event(&delivery).await;
                continue;
            }
            let wait_ms = delivery.next_attempt_at_ms.saturating_sub(now);
            if wait_ms > 0 {
                tokio::time::sleep(Duration::from_millis(wait_ms.unsigned_abs())).await;
                continue;
            }
            let sent = tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(&delivery.body)).await;
            let failure = match sent {
                Ok(Ok(status)) if (200..300).contains(&status) => None,
                Ok(Ok(status)) => Some(format!("answered HTTP {status}")),
                Ok(Err(why)) => Some(why),
                Err(_) => Some(format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs())),
            };
            match failure {
                None => {
                    if let Err(err) = store.remove_webhook(delivery.id).await {
                        tracing::error!(error = %err, "cannot mark a webhook event sent: it will be sent again");
                    }
                    count_queued(&self.directory, &self.gauges).await;
                    // Counted last, so whoever sees the count also sees the queue without it.
                    self.gauges.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Some(why) => {
                    self.gauges.failed.fetch_add(1, Ordering::Relaxed);
                    let attempts = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
                    let pause = backoff(self.retry_after, attempts);
                    tracing::warn!(url = %self.target.url, event = %delivery.event_id, attempts, error = %why, retry_in_s = pause.as_secs_f32(), "webhook not delivered; retrying");
                    let next_at = unix_ms(SystemTime::now() + pause);
                    if let Err(err) = store.webhook_failed(delivery.id, next_at, &why).await {
                        tracing::error!(error = %err, "cannot record a failed webhook attempt");
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
    }

    /// An event older than the maximum age is given up: counted, audited, forgotten.
    async fn drop_event(&self, delivery: &WebhookDelivery) {
        let kind = serde_json::from_str::<serde_json::Value>(&delivery.body)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        tracing::warn!(url = %self.target.url, event = %delivery.event_id, kind, attempts = delivery.attempts, "webhook event dropped: older than --webhook-max-age");
        let actor = Actor {
            who: "webhooks".into(),
            source: "bridge".into(),
        };
        let detail = format!(
            "event {} ({kind}) to {} given up after {} attempts",
            delivery.event_id, self.target.url, delivery.attempts
        );
        self.directory
            .record(&actor, "webhook.dropped", None, &detail)
            .await;
        if let Err(err) = self.directory.store().remove_webhook(delivery.id).await {
            tracing::error!(error = %err, "cannot remove a dropped webhook event");
        }
        count_queued(&self.directory, &self.gauges).await;
        // Counted last, so whoever sees the count also sees the audit entry and the queue
        // without the event.
        self.gauges.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// One POST; the answer's status, or why there was none.
    async fn post(&self, body: &str) -> Result<u16, String> {
        let t = &self.target;
        let tcp = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let host_header = if t.port == if t.https { 443 } else { 80 } {
            t.host.clone()
        } else if t.host.contains(':') {
            format!("[{}]:{}", t.host, t.port)
        } else {
            format!("{}:{}", t.host, t.port)
        };
        let request = hyper::Request::post(t.path.as_str())
            .header(hyper::header::HOST, host_header)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "dialbridge")
            .header(
                "X-Dialbridge-Signature",
                signature(&self.secret, body.as_bytes()),
            )
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        match &self.tls {
            Some(tls) if t.https => {
                let name = rustls_pki_types::ServerName::try_from(t.host.clone())
                    .map_err(|_| format!("{} is not a valid TLS server name", t.host))?;
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS failed: {e}"))?;
                exchange(TokioIo::new(stream), request).await
            }
            _ => exchange(TokioIo::new(tcp), request).await,
        }
    }
}

/// Sends the request on a fresh HTTP/1.1 connection and reads the answer's status.
async fn exchange<I>(io: I, request: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP failed: {e}"))?;
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await;
    driver.abort();
    answer
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("HTTP failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_start_at_the_first_pause_and_double_up_to_ten_minutes() {
        let first = Duration::from_secs(10);
        let pauses: Vec<u64> = (1..=8).map(|n| backoff(first, n).as_secs()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(backoff(first, u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        let t = parse_url("https://hooks.example.net/in?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hooks.example.net", 443, "/in?x=1")
        );
        let t = parse_url("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.https, t.port, t.path.as_str()), (false, 8080, "/"));
        for bad in [
            "ftp://x/",
            "hooks.example.net/in",
            "http://user:pw@x/",
            "not a url",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret(&path).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && !err.contains("s3cret"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret(&path).unwrap().as_slice(), b"s3cret");
    }
}
