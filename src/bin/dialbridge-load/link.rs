//! A shard's SIP link to the bridge: its own UDP socket, or one TCP or TLS connection that all
//! of the shard's calls share (as a trunk reuses its connections), framed by Content-Length
//! with the project's own `sip::stream` reader. Non-blocking, driven by the shard's mio loop.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialbridge::sip::message::{self, Framing, Message};
use dialbridge::sip::stream::{StreamItem, StreamReader};
use mio::net::{TcpStream, UdpSocket};

/// The SIP transport the generator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One UDP socket per shard; requests retransmitted on Timer A/E.
    Udp,
    /// One TCP connection per shard; nothing retransmitted (RFC 3261 §17.1.1.2).
    Tcp,
    /// One TLS connection per shard (`--tls-ca` to trust the bridge's certificate).
    Tls,
}

impl Transport {
    /// The Via transport token.
    pub fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport delivers (no retransmissions).
    pub fn reliable(self) -> bool {
        self != Transport::Udp
    }
}

/// Why a link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Connecting or the TLS handshake failed.
    #[error("cannot connect to the bridge at {addr}: {source}")]
    Connect {
        /// The bridge's address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The CA file is unusable.
    #[error("cannot use the CA file {path}: {reason}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A TLS client configuration trusting the CAs in `path` (PEM).
pub fn tls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, LinkError> {
    use rustls_pki_types::pem::PemObject;
    let bad = |reason: String| LinkError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?
    {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One connection's state.
pub struct StreamLink {
    tcp: TcpStream,
    tls: Option<rustls::ClientConnection>,
    reader: StreamReader,
    /// TCP bytes not yet taken by the kernel.
    out: Vec<u8>,
    peer: SocketAddr,
    closed: bool,
}

/// A shard's SIP link.
pub enum Link {
    /// UDP: one socket, answers from anywhere.
    Udp(UdpSocket),
    /// TCP or TLS: one connection to the bridge.
    Stream(Box<StreamLink>),
}

impl Link {
    /// Connects to `target` over TCP (and TLS when `tls` is given), finishing the handshake
    /// before the run starts so that it is not counted in any call's setup.
    pub fn connect(
        target: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Link, LinkError> {
        let err = |source| LinkError::Connect {
            addr: target,
            source,
        };
        let mut tcp =
            std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5)).map_err(err)?;
        tcp.set_nodelay(true).map_err(err)?;
        let tls = match tls {
            Some(config) => {
                let name = rustls_pki_types::ServerName::from(target.ip());
                let mut conn = rustls::ClientConnection::new(config, name)
                    .map_err(|e| err(io::Error::other(e)))?;
                tcp.set_read_timeout(Some(Duration::from_secs(5)))
                    .map_err(err)?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut tcp).map_err(err)?;
                }
                Some(conn)
            }
            None => None,
        };
        tcp.set_nonblocking(true).map_err(err)?;
        Ok(Link::Stream(Box::new(StreamLink {
            tcp: TcpStream::from_std(tcp),
            tls,
            reader: StreamReader::new(),
            out: Vec::new(),
            peer: target,
            closed: false,
        })))
    }

    /// The mio source to register.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Link::Udp(s) => s,
            Link::Stream(s) => &mut s.tcp,
        }
    }

    /// Our end's address, for Via and Contact.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Link::Udp(s) => s.local_addr(),
            Link::Stream(s) => s.tcp.local_addr(),
        }
    }

    /// Whether the connection was closed by the bridge (UDP never is).
    pub fn closed(&self) -> bool {
        matches!(self, Link::Stream(s) if s.closed)
    }

    /// Sends one message (to `to` over UDP; over a connection, to its peer).
    pub fn send(&mut self, bytes: &[u8], to: SocketAddr) -> io::Result<()> {
        match self {
            Link::Udp(s) => s.send_to(bytes, to).map(|_| ()),
            Link::Stream(s) => {
                match s.tls.as_mut() {
                    Some(conn) => conn.writer().write_all(bytes)?,
                    None => s.out.extend_from_slice(bytes),
                }
                s.flush()
            }
        }
    }

    /// Sends what is still queued (on a writable event).
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Udp(_) => Ok(()),
            Link::Stream(s) => s.flush(),
        }
    }

    /// Reads everything available: whole messages, each with where it came from.
    pub fn receive(&mut self, buf: &mut [u8], out: &mut Vec<(Message, SocketAddr)>) {
        match self {
            Link::Udp(s) => loop {
                match s.recv_from(buf) {
                    Ok((n, from)) => {
                        if let Some((m, _)) = buf
                            .get(..n)
                            .and_then(|b| message::parse(b, Framing::Datagram).ok())
                        {
                            out.push((m, from));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // ICMP errors from an earlier send (the bridge not listening yet).
                    Err(_) => {}
                }
            },
            Link::Stream(s) => s.receive(buf, out),
        }
    }
}

impl StreamLink {
    fn flush(&mut self) -> io::Result<()> {
        if let Some(conn) = self.tls.as_mut() {
            while conn.wants_write() {
                match conn.write_tls(&mut self.tcp) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        while !self.out.is_empty() {
            match self.tcp.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], out: &mut Vec<(Message, SocketAddr)>) {
        let now = Instant::now();
        loop {
            let read = match self.tls.as_mut() {
                Some(conn) => match conn.read_tls(&mut self.tcp) {
                    Ok(0) => Ok(0),
                    Ok(_) => match conn.process_new_packets() {
                        Ok(_) => {
                            let mut total = 0;
                            loop {
                                match conn.reader().read(buf) {
                                    Ok(0) => break,
                                    Ok(n) => {
                                        total += n;
                                        self.reader.push(now, buf.get(..n).unwrap_or_default());
                                    }
                                    Err(_) => break,
                                }
                            }
                            // Plaintext may be empty (a TLS record with no data yet).
                            Ok(total.max(1))
                        }
                        Err(e) => Err(io::Error::other(e)),
                    },
                    Err(e) => Err(e),
                },
                None => match self.tcp.read(buf) {
                    Ok(n) => {
                        self.reader.push(now, buf.get(..n).unwrap_or_default());
                        Ok(n)
                    }
                    Err(e) => Err(e),
                },
            };
            match read {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        while let Some(item) = self.reader.next_item() {
            match item {
                StreamItem::Message(m) => out.push((m, self.peer)),
                StreamItem::Ping => {}
                StreamItem::Invalid { .. } | StreamItem::Broken { .. } => {
                    self.closed = true;
                    break;
                }
            }
        }
        // TLS may owe the peer bytes (alerts, key updates) after reading.
        let _ = self.flush();
    }
}
