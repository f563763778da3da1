//! A tick's datagrams for shared RTP sockets (`--rtp-sockets per-thread`), queued per socket
//! and handed to the kernel with `sendmmsg`, up to 1,024 at a time.
//!
//! Our own code because neither std nor mio offers `sendmmsg` (see `recv_batch` for reads).

use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::raw_addr::RawAddr;

/// Most messages one `sendmmsg` takes (the kernel's `UIO_MAXIOV`).
const CHUNK: usize = 1024;

/// One socket's queued datagrams: their bytes end to end, and where each goes.
struct Queue {
    fd: RawFd,
    bytes: Vec<u8>,
    packets: Vec<Packet>,
}

struct Packet {
    dest: RawAddr,
    start: usize,
    len: usize,
}

/// Datagrams queued during a tick, per socket; [`SendBatch::flush`] sends them. The buffers
/// are kept between ticks, so a steady tick allocates nothing.
#[derive(Default)]
pub struct SendBatch {
    queues: Vec<Queue>,
}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams it refused (a full socket buffer, an unreachable address): dropped, as a
    /// full buffer drops a `sendto`'s frame; the next tick sends the next frame.
    pub dropped: usize,
}

impl SendBatch {
    /// Queues `bytes` for `dest` on the socket `fd`.
    pub fn queue(&mut self, fd: RawFd, dest: SocketAddr, bytes: &[u8]) {
        let index = match self.queues.iter().position(|q| q.fd == fd) {
            Some(index) => index,
            None => {
                self.queues.push(Queue {
                    fd,
                    bytes: Vec::new(),
                    packets: Vec::new(),
                });
                self.queues.len() - 1
            }
        };
        if let Some(queue) = self.queues.get_mut(index) {
            let start = queue.bytes.len();
            queue.bytes.extend_from_slice(bytes);
            queue.packets.push(Packet {
                dest: dest.into(),
                start,
                len: bytes.len(),
            });
        }
    }

    /// How many datagrams wait.
    pub fn len(&self) -> usize {
        self.queues.iter().map(|q| q.packets.len()).sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends everything queued, each socket's datagrams in order, and empties the queues.
    pub fn flush(&mut self) -> Flushed {
        let mut flushed = Flushed::default();
        for queue in &mut self.queues {
            for chunk in queue.packets.chunks(CHUNK) {
                let (sent, dropped) = send_chunk(queue.fd, &queue.bytes, chunk);
                flushed.sent += sent;
                flushed.dropped += dropped;
            }
            queue.bytes.clear();
            queue.packets.clear();
        }
        flushed
    }
}

/// Sends up to [`CHUNK`] datagrams with as few `sendmmsg` calls as the kernel allows; a
/// datagram it refuses is skipped. Returns (sent, dropped).
fn send_chunk(fd: RawFd, bytes: &[u8], packets: &[Packet]) -> (usize, usize) {
    let mut iovecs: Vec<libc::iovec> = packets
        .iter()
        .map(|p| {
            let data = bytes.get(p.start..p.start + p.len).unwrap_or_default();
            libc::iovec {
                // The kernel only reads through it (sendmmsg takes no ownership).
                iov_base: data.as_ptr().cast_mut().cast(),
                iov_len: data.len(),
            }
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = packets
        .iter()
        .zip(iovecs.iter_mut())
        .map(|(p, iov)| {
            // SAFETY: an all-zero msghdr is valid (no name, no control data); filled below.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_name = p.dest.as_ptr();
            header.msg_hdr.msg_namelen = p.dest.len();
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            header
        })
        .collect();
    let (mut sent, mut dropped, mut at) = (0usize, 0usize, 0usize);
    while let Some(rest) = headers.get_mut(at..)
        && !rest.is_empty()
    {
        // SAFETY: each header points at a live address, iovec and byte range of this call,
        // all of which outlive it; the kernel only reads them.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                rest.as_mut_ptr(),
                rest.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            let n = n as usize;
            sent += n;
            at += n;
        } else if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        } else {
            // The first datagram was refused: drop it and go on with the rest.
            dropped += 1;
            at += 1;
        }
    }
    (sent, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn received(rx: &UdpSocket, count: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        rx.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 2048];
        (0..count)
            .map(|_| {
                let (n, from) = rx.recv_from(&mut buf).expect("a datagram");
                (from, buf[..n].to_vec())
            })
            .collect()
    }

    #[test]
    fn every_queued_datagram_leaves_from_its_socket_to_its_address_in_order() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        // More datagrams than one sendmmsg takes, spread so that no receive buffer overflows.
        let receivers: Vec<UdpSocket> = (0..11)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let count = CHUNK + 76;
        let mut batch = SendBatch::default();
        for round in 0..2u8 {
            for i in 0..count {
                let to = receivers[i % receivers.len()].local_addr().unwrap();
                batch.queue(a.as_raw_fd(), to, &(i as u16).to_be_bytes());
            }
            let to_first = receivers[0].local_addr().unwrap();
            batch.queue(b.as_raw_fd(), to_first, &[round; 172]);
            assert_eq!(batch.len(), count + 1);
            assert_eq!(
                batch.flush(),
                Flushed {
                    sent: count + 1,
                    dropped: 0
                }
            );
            assert!(batch.is_empty());
            for (r, rx) in receivers.iter().enumerate() {
                let expected: Vec<u16> = (0..count as u16)
                    .filter(|i| usize::from(*i) % receivers.len() == r)
                    .collect();
                let extra = usize::from(r == 0);
                let got = received(rx, expected.len() + extra);
                let from_a: Vec<u16> = got
                    .iter()
                    .filter(|(from, _)| *from == a.local_addr().unwrap())
                    .map(|(_, d)| u16::from_be_bytes([d[0], d[1]]))
                    .collect();
                assert_eq!(from_a, expected, "receiver {r}");
                if r == 0 {
                    assert!(got.contains(&(b.local_addr().unwrap(), vec![round; 172])));
                }
            }
        }
    }

    #[test]
    fn datagrams_to_ipv6_addresses_leave_too() {
        let a = UdpSocket::bind("[::1]:0").expect("IPv6 loopback");
        let rx = UdpSocket::bind("[::1]:0").unwrap();
        let mut batch = SendBatch::default();
        batch.queue(a.as_raw_fd(), rx.local_addr().unwrap(), b"six");
        batch.queue(a.as_raw_fd(), rx.local_addr().unwrap(), b"again");
        assert_eq!(
            batch.flush(),
            Flushed {
                sent: 2,
                dropped: 0
            }
        );
        let from = a.local_addr().unwrap();
        assert_eq!(
            received(&rx, 2),
            vec![(from, b"six".to_vec()), (from, b"again".to_vec())]
        );
    }

    #[test]
    fn a_refused_datagram_is_dropped_and_the_rest_still_leave() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = SendBatch::default();
        // An IPv6 destination on an IPv4 socket: refused by the kernel, whatever the host.
        batch.queue(a.as_raw_fd(), "[::1]:9".parse().unwrap(), b"refused");
        batch.queue(a.as_raw_fd(), rx.local_addr().unwrap(), b"fine");
        assert_eq!(
            batch.flush(),
            Flushed {
                sent: 1,
                dropped: 1
            }
        );
        assert_eq!(
            received(&rx, 1),
            vec![(a.local_addr().unwrap(), b"fine".to_vec())]
        );
    }
}
