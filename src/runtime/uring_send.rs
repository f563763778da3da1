//! Batched RTP sends through io_uring (`--rtp-send io-uring`): a media tick's datagrams, from
//! the many per-call sockets, reach the kernel in a few submissions instead of one `sendto`
//! each. An option beside plain `sendto`, measured in the README; the crate is tokio-rs's
//! `io-uring`, the unsafe part is keeping each message's memory alive until it completes.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::{IoUring, opcode, types};

use super::raw_addr::RawAddr;

/// Submission queue size: a tick's sends go in chunks of this many.
const ENTRIES: u32 = 1024;

/// A datagram queued for the next flush.
struct Queued {
    fd: RawFd,
    dest: SocketAddr,
    start: usize,
    len: usize,
}

/// One media worker's ring and the tick's queued datagrams.
pub struct UringSender {
    ring: IoUring,
    bytes: Vec<u8>,
    queued: Vec<Queued>,
    // Rebuilt at each flush and not touched until every completion is in: the kernel reads
    // them through the pointers in the submissions.
    headers: Vec<libc::msghdr>,
    iovecs: Vec<libc::iovec>,
    addrs: Vec<RawAddr>,
}

// SAFETY: the raw pointers in `headers` and `iovecs` point only into this value's own
// vectors, are rebuilt at each flush and are not used after it returns; the ring is an owned
// file descriptor with its mappings. Moving the whole to its media thread is sound.
unsafe impl Send for UringSender {}

/// What a flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams it refused (a full socket buffer drops the frame, as `sendto` would).
    pub failed: usize,
}

impl UringSender {
    /// A ring for one worker; fails where the kernel has no io_uring (or forbids it).
    pub fn new() -> io::Result<Self> {
        Ok(UringSender {
            ring: IoUring::new(ENTRIES)?,
            bytes: Vec::new(),
            queued: Vec::new(),
            headers: Vec::new(),
            iovecs: Vec::new(),
            addrs: Vec::new(),
        })
    }

    /// Copies a datagram for the next [`UringSender::flush`].
    pub fn queue(&mut self, fd: RawFd, dest: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.queued.push(Queued {
            fd,
            dest,
            start,
            len: datagram.len(),
        });
    }

    /// Sends everything queued and waits until the kernel has taken it all.
    pub fn flush(&mut self) -> Flushed {
        let n = self.queued.len();
        let mut done = Flushed::default();
        if n == 0 {
            return done;
        }
        self.headers.clear();
        self.iovecs.clear();
        self.addrs.clear();
        // Every vector is sized first, so no pointer taken below moves.
        self.iovecs.reserve(n);
        self.addrs.reserve(n);
        self.headers.reserve(n);
        for q in &self.queued {
            self.addrs.push(RawAddr::from(q.dest));
            self.iovecs.push(libc::iovec {
                iov_base: self.bytes[q.start..].as_ptr() as *mut libc::c_void,
                iov_len: q.len,
            });
        }
        for (i, addr) in self.addrs.iter().enumerate() {
            // SAFETY: an all-zero msghdr is a valid empty one.
            let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
            h.msg_name = addr.as_ptr();
            h.msg_namelen = addr.len();
            h.msg_iov = (&raw const self.iovecs[i]) as *mut libc::iovec;
            h.msg_iovlen = 1;
            self.headers.push(h);
        }
        let mut next = 0;
        while next < n {
            let chunk = (n - next).min(ENTRIES as usize);
            let mut pushed = 0;
            for i in next..next + chunk {
                let entry =
                    opcode::SendMsg::new(types::Fd(self.queued[i].fd), &raw const self.headers[i])
                        .build()
                        .user_data(i as u64);
                // SAFETY: the header, its address, iovec and bytes live in `self` until the
                // completions below are all in; the queue has room for `chunk` entries.
                if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                    pushed += 1;
                } else {
                    done.failed += 1;
                }
            }
            if self.ring.submit_and_wait(pushed).is_err() {
                // Nothing reliable to wait for: count the chunk as lost, like a full buffer.
                done.failed += pushed;
            }
            for c in self.ring.completion() {
                if c.result() >= 0 {
                    done.sent += 1;
                } else {
                    done.failed += 1;
                }
            }
            next += chunk;
        }
        self.queued.clear();
        self.bytes.clear();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_flush_delivers_every_queued_datagram_from_its_own_socket() {
        let timeout = Some(std::time::Duration::from_secs(2));
        // 1,200 datagrams (more than one submission chunk) to 12 receivers, 100 each: few
        // enough per socket buffer that none is dropped on a busy machine.
        let receivers: Vec<UdpSocket> = (0..12)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
                s.set_read_timeout(timeout).expect("timeout");
                s
            })
            .collect();
        let senders: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let mut uring = UringSender::new().expect("io_uring");
        for n in 0..1200usize {
            let (from, to) = (n % 3, n % 12);
            let dest = receivers[to].local_addr().expect("addr");
            uring.queue(senders[from].as_raw_fd(), dest, &[from as u8, to as u8]);
        }
        assert_eq!(
            uring.flush(),
            Flushed {
                sent: 1200,
                failed: 0
            }
        );
        for (to, rx) in receivers.iter().enumerate() {
            let mut buf = [0u8; 8];
            for _ in 0..100 {
                let (n, src) = rx.recv_from(&mut buf).expect("a datagram");
                assert_eq!(n, 2);
                assert_eq!(buf[1] as usize, to, "to the address it was queued for");
                let from = buf[0] as usize;
                assert_eq!(
                    senders[from].local_addr().ok(),
                    Some(src),
                    "from the socket it was queued for"
                );
            }
        }
        assert_eq!(uring.flush(), Flushed::default(), "nothing left queued");
    }
}
