//! RTP that reached a media thread's shared socket (`--rtp-sockets per-thread`) for a call
//! another thread owns now, gathered over one slice and passed on as one message per thread.
//!
//! A caller keeps sending to the socket its SDP answer named, so a call that moved to its
//! meeting's thread arrives on the thread that answered it: in a meeting, about half the
//! talkers' packets. One message per datagram cost an allocation, a channel send and a free
//! each; one batch per slice costs them once.

use std::net::SocketAddr;
use std::ops::Range;

use crossbeam_channel::Sender;

use crate::call::CallId;

/// Datagrams for one thread, their bytes packed into one buffer.
#[derive(Default)]
pub struct ForwardBatch {
    packets: Vec<(CallId, SocketAddr, Range<usize>)>,
    bytes: Vec<u8>,
}

impl ForwardBatch {
    /// An empty batch with room for what the last one held.
    fn with_capacity(packets: usize, bytes: usize) -> Self {
        ForwardBatch {
            packets: Vec::with_capacity(packets),
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Adds one datagram.
    pub fn push(&mut self, call: CallId, source: SocketAddr, data: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.packets.push((call, source, start..self.bytes.len()));
    }

    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The datagrams, in the order they arrived.
    pub fn iter(&self) -> impl Iterator<Item = (CallId, SocketAddr, &[u8])> {
        self.packets.iter().map(|(call, source, range)| {
            (
                *call,
                *source,
                self.bytes.get(range.clone()).unwrap_or_default(),
            )
        })
    }
}

/// A media thread's batches on their way out, one per thread.
pub struct Forwarder {
    batches: Vec<ForwardBatch>,
}

impl Forwarder {
    /// Batches for `threads` media threads.
    pub fn new(threads: usize) -> Self {
        Forwarder {
            batches: (0..threads).map(|_| ForwardBatch::default()).collect(),
        }
    }

    /// Queues a datagram for thread `to` (dropped if there is no such thread).
    pub fn push(&mut self, to: usize, call: CallId, source: SocketAddr, data: &[u8]) {
        if let Some(batch) = self.batches.get_mut(to) {
            batch.push(call, source, data);
        }
    }

    /// Sends each thread its batch; a thread that has stopped drops it.
    pub fn flush(&mut self, to: &[Sender<ForwardBatch>]) {
        for (batch, tx) in self.batches.iter_mut().zip(to) {
            if batch.is_empty() {
                continue;
            }
            let next = ForwardBatch::with_capacity(batch.packets.len(), batch.bytes.len());
            let _ = tx.send(std::mem::replace(batch, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_thread_gets_its_datagrams_in_one_message_in_arrival_order() {
        let (tx0, rx0) = crossbeam_channel::unbounded();
        let (tx1, rx1) = crossbeam_channel::unbounded();
        let mut out = Forwarder::new(2);
        out.push(1, CallId(7), addr(4000), b"first");
        out.push(1, CallId(8), addr(4002), b"");
        out.push(1, CallId(7), addr(4000), b"third one");
        out.push(5, CallId(9), addr(4004), b"no such thread");
        out.flush(&[tx0.clone(), tx1.clone()]);
        assert!(rx0.try_recv().is_err(), "nothing was queued for thread 0");
        let batch = rx1.try_recv().unwrap();
        let got: Vec<(CallId, SocketAddr, Vec<u8>)> =
            batch.iter().map(|(c, s, d)| (c, s, d.to_vec())).collect();
        assert_eq!(
            got,
            [
                (CallId(7), addr(4000), b"first".to_vec()),
                (CallId(8), addr(4002), Vec::new()),
                (CallId(7), addr(4000), b"third one".to_vec()),
            ]
        );
        assert!(rx1.try_recv().is_err(), "one message for the three");
        // Flushed batches start empty again.
        out.flush(&[tx0, tx1]);
        assert!(rx1.try_recv().is_err());
    }
}
