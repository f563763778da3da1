//! Reads a socket's queued datagrams with one `recvmmsg` call, so that a ready RTP socket
//! costs one system call per tick instead of one per datagram plus the empty read that tells
//! an edge-triggered poller the queue is drained.
//!
//! Our own code because neither std nor mio offers `recvmmsg`, and the crates that do
//! (quinn-udp, nix) bring their own socket types or buffer shapes for one call.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams taken per call: a call's socket holds one RTP packet per 20 ms tick, a few more
/// when keys arrive or the poller was late; a fuller queue is read again.
pub const BATCH: usize = 8;

/// Buffers for one `recvmmsg` of up to `N` datagrams, reused for every read.
pub struct RecvBatch<const N: usize> {
    buffers: Box<[[u8; super::media::MAX_DATAGRAM]; N]>,
    addresses: [libc::sockaddr_storage; N],
    lengths: [usize; N],
    sources: [Option<SocketAddr>; N],
    received: usize,
}

impl<const N: usize> Default for RecvBatch<N> {
    fn default() -> Self {
        // Made on the heap: a large batch's buffers would not fit a thread's stack.
        let buffers = vec![[0; super::media::MAX_DATAGRAM]; N].into_boxed_slice();
        RecvBatch {
            buffers: buffers
                .try_into()
                .unwrap_or_else(|_| unreachable!("N buffers made")),
            // SAFETY: an all-zero sockaddr_storage is a valid (unspecified) address.
            addresses: [unsafe { std::mem::zeroed() }; N],
            lengths: [0; N],
            sources: [None; N],
            received: 0,
        }
    }
}

impl<const N: usize> RecvBatch<N> {
    /// Reads what is queued on `fd` without waiting: the number of datagrams read, at least
    /// one (`WouldBlock` when none was queued). Fewer than `N` means the queue was empty
    /// after them. A datagram longer than a buffer is cut to it (the RTP parser rejects it).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received = 0;
        let mut iovecs: [libc::iovec; N] = std::array::from_fn(|_| libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        });
        // SAFETY: an all-zero mmsghdr is valid (null name and iov); each is filled below.
        let mut headers: [libc::mmsghdr; N] = unsafe { std::mem::zeroed() };
        for (((iov, header), buffer), address) in iovecs
            .iter_mut()
            .zip(headers.iter_mut())
            .zip(self.buffers.iter_mut())
            .zip(self.addresses.iter_mut())
        {
            iov.iov_base = buffer.as_mut_ptr().cast();
            iov.iov_len = buffer.len();
            header.msg_hdr.msg_name = (address as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer, iovec and address of this batch, all
        // of which outlive the call; the kernel writes at most their given lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(N);
        for (i, header) in headers.iter().enumerate().take(n) {
            if let (Some(length), Some(source), Some(address)) = (
                self.lengths.get_mut(i),
                self.sources.get_mut(i),
                self.addresses.get(i),
            ) {
                *length = (header.msg_len as usize).min(super::media::MAX_DATAGRAM);
                *source = socket_addr(address, header.msg_hdr.msg_namelen);
            }
        }
        self.received = n;
        Ok(n)
    }

    /// The datagrams the last [`RecvBatch::recv`] read, with their sources (a datagram whose
    /// source is not an IP address is left out).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.buffers
            .iter()
            .zip(self.lengths.iter())
            .zip(self.sources.iter())
            .take(self.received)
            .filter_map(|((buffer, &length), source)| {
                Some((source.as_ref().copied()?, buffer.get(..length)?))
            })
    }
}

/// The Rust form of an address the kernel wrote, if it is IPv4 or IPv6.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the kernel wrote a sockaddr_in (family and length say so); the storage
            // is aligned for it.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn one_read_takes_every_queued_datagram_with_its_source_then_reports_an_empty_queue() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        a.send_to(b"first", to).unwrap();
        b.send_to(b"second, longer", to).unwrap();
        a.send_to(&[7u8; 3000], to).unwrap();
        let mut batch = RecvBatch::<BATCH>::default();
        // Loopback queues synchronously, but give the kernel a bounded moment all the same.
        let mut got = Vec::new();
        for _ in 0..100 {
            match batch.recv(rx.as_raw_fd()) {
                Ok(_) => got.extend(batch.datagrams().map(|(s, d)| (s, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if got.len() == 3 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("recvmmsg: {e}"),
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (a.local_addr().unwrap(), b"first".to_vec()));
        assert_eq!(
            got[1],
            (b.local_addr().unwrap(), b"second, longer".to_vec())
        );
        assert_eq!(got[2].0, a.local_addr().unwrap());
        assert_eq!(
            got[2].1.len(),
            super::super::media::MAX_DATAGRAM,
            "cut to the buffer"
        );
        let err = batch.recv(rx.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn a_queue_longer_than_a_batch_is_read_in_full_batches_then_the_rest() {
        let rx = UdpSocket::bind("[::1]:0")
            .or_else(|_| UdpSocket::bind("127.0.0.1:0"))
            .unwrap();
        let to = rx.local_addr().unwrap();
        let tx = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).unwrap();
        for i in 0..(BATCH + 3) {
            tx.send_to(&[i as u8; 12], to).unwrap();
        }
        let mut batch = RecvBatch::<BATCH>::default();
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), BATCH);
        let first: Vec<u8> = batch.datagrams().map(|(_, d)| d[0]).collect();
        assert_eq!(first, (0..BATCH as u8).collect::<Vec<_>>());
        assert_eq!(batch.recv(rx.as_raw_fd()).unwrap(), 3);
        let sources: Vec<SocketAddr> = batch.datagrams().map(|(s, _)| s).collect();
        assert_eq!(sources, vec![tx.local_addr().unwrap(); 3]);
    }
}
