//! SIP over TCP and TLS for the SIP task (RFC 3261 §18, §26): accepting connections within
//! limits, one small task per connection that (for TLS) shakes hands, then reads, frames
//! (`sip::stream`) and writes, and the bookkeeping that lets the endpoint's responses and
//! BYEs go back on the right connection.
//!
//! The SIP task stays the one owner of SIP state: connection tasks only turn bytes into
//! messages and messages into bytes. A TLS connection is the same task over a different
//! stream, so framing, limits, timeouts and keep-alives are the same code.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::tls::TlsSettings;
use crate::config::TcpLimits;
use crate::sip::stream::{StreamItem, StreamReader};
pub use crate::sip::transport::CloseReason;
use crate::sip::transport::{Peer, Transport};

/// Messages queued for one connection before it counts as stuck and is closed.
const OUT_QUEUE: usize = 256;
/// Read size; a message may take many reads.
const READ_CHUNK: usize = 16 * 1024;
/// How long a write may stall (the peer not reading) before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After a framing error: how long the connection stays open for the 400 to be written.
const LINGER_AFTER_ERROR: Duration = Duration::from_secs(2);
/// Bytes read and dropped while lingering after a framing error, at most.
const MAX_LINGER_BYTES: usize = 256 * 1024;

/// What a connection task tells the SIP task.
#[derive(Debug)]
pub enum TcpInput {
    /// A whole message, or a framing error, from the connection to `peer`.
    Item {
        /// The connection's remote end and its transport.
        peer: Peer,
        /// What arrived.
        item: StreamItem,
    },
    /// The connection to `peer` is gone.
    Closed {
        /// The connection's remote end and its transport.
        peer: Peer,
        /// Why, for the log.
        why: CloseReason,
    },
    /// The TLS handshake with `peer` failed or took longer than the message timeout; a
    /// `Closed` follows.
    HandshakeFailed {
        /// The connection's remote end.
        peer: SocketAddr,
        /// Why.
        why: HandshakeFailure,
    },
}

/// Why a TLS handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    /// The handshake did not finish within the message timeout.
    #[error("the handshake did not finish within the message timeout")]
    TimedOut,
    /// The peer sent something that is not a TLS handshake we accept (no certificate when
    /// one is required, an unknown CA, no common version or cipher, cleartext…).
    #[error("{0}")]
    Refused(std::io::Error),
}

/// Why a new connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    TooManyConnections,
    /// `max_per_source` are open from this address.
    TooManyFromSource,
}

enum Outgoing {
    Bytes(Vec<u8>),
    Close,
}

struct Conn {
    out: mpsc::Sender<Outgoing>,
    /// Calls whose signalling uses this connection: while any is up it is never idle.
    calls: Arc<AtomicUsize>,
}

/// The SIP task's view of its TCP connections, or of its TLS connections.
pub struct TcpConnections {
    /// What the connections speak.
    transport: Transport,
    /// TLS: the settings new accepted connections take (none when this only holds the
    /// connections the bridge opened itself, to registrars).
    tls: Option<TlsSettings>,
    limits: TcpLimits,
    conns: HashMap<SocketAddr, Conn>,
    per_source: HashMap<IpAddr, usize>,
    input: mpsc::Sender<TcpInput>,
}

impl TcpConnections {
    /// Connection bookkeeping; connection tasks report on `input`.
    pub fn new(limits: TcpLimits, input: mpsc::Sender<TcpInput>) -> Self {
        TcpConnections {
            transport: Transport::Tcp,
            tls: None,
            limits,
            conns: HashMap::new(),
            per_source: HashMap::new(),
            input,
        }
    }

    /// Connection bookkeeping for SIP over TLS: each new connection shakes hands with the
    /// configuration current when it is accepted.
    pub fn new_tls(limits: TcpLimits, input: mpsc::Sender<TcpInput>, tls: TlsSettings) -> Self {
        TcpConnections {
            transport: Transport::Tls,
            tls: Some(tls),
            limits,
            conns: HashMap::new(),
            per_source: HashMap::new(),
            input,
        }
    }

    /// TLS connections the bridge opens itself (to registrars), when it serves no TLS port.
    pub fn new_tls_clients(limits: TcpLimits, input: mpsc::Sender<TcpInput>) -> Self {
        TcpConnections {
            transport: Transport::Tls,
            tls: None,
            limits,
            conns: HashMap::new(),
            per_source: HashMap::new(),
            input,
        }
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when none is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Takes a new connection within the limits and starts its task, or says why not (the
    /// stream is then dropped, which closes it).
    pub fn accept(&mut self, stream: TcpStream, peer: SocketAddr) -> Result<(), Refusal> {
        let _ = stream.set_nodelay(true);
        let conn = self.admit(peer)?;
        match (&self.tls, self.transport) {
            (Some(tls), _) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                tokio::spawn(conn.shake_hands(acceptor, stream));
            }
            (None, transport) => {
                let (rd, wr) = stream.into_split();
                tokio::spawn(conn.run(rd, wr, transport));
            }
        }
        Ok(())
    }

    /// Takes a TLS connection the bridge opened and shook hands on itself (to a registrar).
    pub fn adopt_tls(
        &mut self,
        stream: tokio_rustls::client::TlsStream<TcpStream>,
        peer: SocketAddr,
    ) -> Result<(), Refusal> {
        let conn = self.admit(peer)?;
        let (rd, wr) = tokio::io::split(stream);
        tokio::spawn(conn.run(rd, wr, Transport::Tls));
        Ok(())
    }

    /// Counts a new connection within the limits, or says why not.
    fn admit(&mut self, peer: SocketAddr) -> Result<Connection, Refusal> {
        if self.conns.len() >= self.limits.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let from_source = self.per_source.get(&peer.ip()).copied().unwrap_or(0);
        if from_source >= self.limits.max_per_source {
            return Err(Refusal::TooManyFromSource);
        }
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let calls = Arc::new(AtomicUsize::new(0));
        self.conns.insert(
            peer,
            Conn {
                out: out_tx,
                calls: Arc::clone(&calls),
            },
        );
        *self.per_source.entry(peer.ip()).or_insert(0) += 1;
        Ok(Connection {
            peer,
            out: out_rx,
            input: self.input.clone(),
            limits: self.limits,
            calls,
        })
    }

    /// TCP or TLS.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Queues bytes for the connection to `peer`; false when there is no such connection.
    /// A connection whose queue is full is not reading: it is closed.
    pub fn send(&mut self, peer: SocketAddr, bytes: Vec<u8>) -> bool {
        let Some(conn) = self.conns.get(&peer) else {
            return false;
        };
        match conn.out.try_send(Outgoing::Bytes(bytes)) {
            Ok(()) => true,
            Err(_) => {
                tracing::info!(%peer, transport = %self.transport(), "SIP connection not reading: closing it");
                self.close(peer);
                false
            }
        }
    }

    /// Closes the connection to `peer` once what is queued for it has been written.
    pub fn close(&mut self, peer: SocketAddr) {
        if let Some(conn) = self.conns.get(&peer)
            && conn.out.try_send(Outgoing::Close).is_err()
        {
            // Queue full: dropping the sender ends the task after it drains.
            self.forget(peer);
        }
    }

    /// Closes every connection (shutdown).
    pub fn close_all(&mut self) {
        let peers: Vec<SocketAddr> = self.conns.keys().copied().collect();
        for peer in peers {
            self.close(peer);
        }
    }

    /// A connection task ended: forget it.
    pub fn forget(&mut self, peer: SocketAddr) {
        if self.conns.remove(&peer).is_some()
            && let Some(n) = self.per_source.get_mut(&peer.ip())
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&peer.ip());
            }
        }
    }

    /// A call started (+1) or ended (-1) on the connection to `peer`.
    pub fn call_on(&mut self, peer: SocketAddr, started: bool) {
        if let Some(conn) = self.conns.get(&peer) {
            if started {
                conn.calls.fetch_add(1, Ordering::Relaxed);
            } else {
                let _ = conn
                    .calls
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
            }
        }
    }
}

/// One connection's task and what it shares with the SIP task.
struct Connection {
    peer: SocketAddr,
    out: mpsc::Receiver<Outgoing>,
    input: mpsc::Sender<TcpInput>,
    limits: TcpLimits,
    calls: Arc<AtomicUsize>,
}

impl Connection {
    /// TLS: the handshake first, within the message timeout, on this connection's own task
    /// (a slow or failed one holds up nobody else); then the same loop as TCP.
    async fn shake_hands(self, acceptor: tokio_rustls::TlsAcceptor, stream: TcpStream) {
        let why = match tokio::time::timeout(self.limits.message_timeout, acceptor.accept(stream))
            .await
        {
            Ok(Ok(tls)) => {
                let (rd, wr) = tokio::io::split(tls);
                return self.run(rd, wr, Transport::Tls).await;
            }
            Ok(Err(err)) => HandshakeFailure::Refused(err),
            Err(_) => HandshakeFailure::TimedOut,
        };
        let peer = self.peer;
        let _ = self
            .input
            .send(TcpInput::HandshakeFailed { peer, why })
            .await;
        let _ = self
            .input
            .send(TcpInput::Closed {
                peer: Peer::tls(peer),
                why: CloseReason::Peer,
            })
            .await;
    }

    /// Read and frame, write what the SIP task queues, enforce the timeouts: the same for
    /// a TCP connection's halves and a TLS stream's.
    async fn run<R, W>(self, mut rd: R, mut wr: W, transport: Transport)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            peer,
            mut out,
            input,
            limits,
            calls,
        } = self;
        let peer = Peer {
            addr: peer,
            transport,
        };
        let mut reader = StreamReader::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut last_in = Instant::now();
        // After a framing error nothing more is read: only the answer is written, then close.
        let mut reading = true;
        let mut linger_until: Option<Instant> = None;
        let why = loop {
            let now = Instant::now();
            let idle_at = last_in + limits.idle_timeout;
            let deadline = match (linger_until, reader.partial_since()) {
                (Some(at), _) => at,
                (None, Some(since)) => (since + limits.message_timeout).min(idle_at),
                (None, None) => idle_at,
            };
            tokio::select! {
                read = rd.read(&mut buf), if reading => {
                    let n = match read {
                        Ok(0) | Err(_) => break CloseReason::Peer,
                        Ok(n) => n,
                    };
                    last_in = Instant::now();
                    reader.push(last_in, buf.get(..n).unwrap_or_default());
                    let mut pong = false;
                    while let Some(item) = reader.next_item() {
                        match item {
                            StreamItem::Ping => pong = true,
                            other => {
                                let broken = matches!(other, StreamItem::Broken { .. });
                                if input.send(TcpInput::Item { peer, item: other }).await.is_err() {
                                    return;
                                }
                                if broken {
                                    reading = false;
                                    linger_until = Some(Instant::now() + LINGER_AFTER_ERROR);
                                }
                            }
                        }
                    }
                    // RFC 5626 §3.5.1: a CRLFCRLF ping is answered with one CRLF.
                    if pong && write(&mut wr, b"\r\n").await.is_err() {
                        break CloseReason::Stuck;
                    }
                }
                queued = out.recv() => match queued {
                    Some(Outgoing::Bytes(bytes)) => {
                        if write(&mut wr, &bytes).await.is_err() {
                            break CloseReason::Stuck;
                        }
                    }
                    Some(Outgoing::Close) | None => {
                        break if reading { CloseReason::Local } else { CloseReason::Malformed };
                    }
                },
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now2 = Instant::now().max(now);
                    if linger_until.is_some_and(|at| now2 >= at) {
                        break CloseReason::Malformed;
                    }
                    if reader.partial_since().is_some_and(|s| now2 >= s + limits.message_timeout) {
                        break CloseReason::SlowSender;
                    }
                    if now2 >= idle_at {
                        if calls.load(Ordering::Relaxed) == 0 {
                            break CloseReason::Idle;
                        }
                        // A call keeps its connection: wait another idle period.
                        last_in = now2;
                    }
                }
            }
        };
        // For TLS this also sends close_notify.
        let _ = tokio::time::timeout(WRITE_TIMEOUT, wr.shutdown()).await;
        if why == CloseReason::Malformed {
            // A lingering close: the answer is written and our side shut, but the peer may
            // still be sending the rest of what it started. Closing with its bytes unread
            // makes the kernel send a reset, which can destroy the answer before the peer
            // reads it; reading on (and dropping) until it closes, for a while and a bounded
            // amount, lets the answer arrive.
            let _ = tokio::time::timeout(LINGER_AFTER_ERROR, async {
                let mut drained = 0usize;
                while drained < MAX_LINGER_BYTES {
                    match rd.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => drained += n,
                    }
                }
            })
            .await;
        }
        let _ = input.send(TcpInput::Closed { peer, why }).await;
    }
}

async fn write<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, async {
        wr.write_all(bytes).await?;
        // TLS buffers records until flushed; for TCP this does nothing.
        wr.flush().await
    })
    .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
