//! The media workers' thin I/O shell: one OS thread per core, each an epoll loop (mio) over
//! its calls' RTP sockets, paced by a 20 ms media clock.
//!
//! Threads rather than tokio tasks because the media clock must not share a scheduler with
//! admin requests, database writes or PIN checks, and because one loop polling many sockets
//! costs far less per packet than a task per socket.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use dashmap::DashMap;
use mio::net::UdpSocket;
use std::os::fd::AsRawFd;

use mio::{Events, Interest, Poll, Token};

use super::events::EventSink;
use super::forward::{ForwardBatch, Forwarder};
use super::recv_batch::{BATCH, RecvBatch};
use super::send_batch::SendBatch;
use super::shared_rtp::{Route, SharedRtp};
use super::telemetry::WorkerGauges;
use crate::admin::live::{self, ActionRefused, LiveAnswer, MeetingAction};
use crate::call::CallId;
use crate::engine::{
    Attendance, Command, Control, ControlOutcome, Event, LiveEvent, MeetingHomes, MeetingPhase,
    MeetingView, Missing, ParticipantView, Request, Worker, WorkerConfig,
};
use crate::ivr::assets::Assets;
use crate::ivr::flow::Role;
use crate::media::codec::FRAME_DURATION;
use crate::media::ports::PortLease;

/// Largest RTP datagram we read; larger ones are truncated and then rejected by the parser.
pub(super) const MAX_DATAGRAM: usize = 2048;
/// Ready sockets taken per epoll_wait.
const EVENTS_PER_POLL: usize = 4096;

/// A call's media socket: its own, with the port lease that frees the port when the call
/// ends, or its media thread's shared one (`--rtp-sockets per-thread`).
pub struct MediaTransport {
    kind: TransportKind,
}

enum TransportKind {
    Own {
        socket: UdpSocket,
        _lease: Option<PortLease>,
    },
    /// The call's route on the shared socket goes when the transport does.
    Shared { rtp: Arc<SharedRtp>, call: CallId },
}

impl MediaTransport {
    /// Wraps a bound std socket (made non-blocking here).
    pub fn new(socket: std::net::UdpSocket, lease: Option<PortLease>) -> std::io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(MediaTransport {
            kind: TransportKind::Own {
                socket: UdpSocket::from_std(socket),
                _lease: lease,
            },
        })
    }

    /// The call's own socket, to poll; None on a shared socket (its thread polls that).
    fn own_socket(&mut self) -> Option<&mut UdpSocket> {
        match &mut self.kind {
            TransportKind::Own { socket, .. } => Some(socket),
            TransportKind::Shared { .. } => None,
        }
    }

    /// The socket the call's RTP leaves from.
    fn fd(&self) -> std::os::fd::RawFd {
        match &self.kind {
            TransportKind::Own { socket, .. } => socket.as_raw_fd(),
            TransportKind::Shared { rtp, .. } => rtp.fd(),
        }
    }

    /// The shared socket the call is on, if it is.
    fn shared(&self) -> Option<&Arc<SharedRtp>> {
        match &self.kind {
            TransportKind::Own { .. } => None,
            TransportKind::Shared { rtp, .. } => Some(rtp),
        }
    }

    /// Sends one datagram now (a full socket buffer drops it).
    fn send_now(&self, dest: SocketAddr, bytes: &[u8]) {
        let _ = match &self.kind {
            TransportKind::Own { socket, .. } => socket.send_to(bytes, dest),
            TransportKind::Shared { rtp, .. } => rtp.socket().send_to(bytes, dest),
        };
    }
}

impl Drop for MediaTransport {
    fn drop(&mut self) {
        if let TransportKind::Shared { rtp, call } = &self.kind {
            rtp.unroute(*call);
        }
    }
}

/// What the control task is told: a media worker's request as the worker made it, or news
/// from the SIP side.
#[derive(Debug)]
pub enum ControlEvent {
    /// A media worker asks (a look-up, a PIN check, a hangup…).
    Media(Request),
    /// The SIP side answered a call: who is calling (guessing limits, call records).
    CallerKnown {
        /// Which call.
        call: CallId,
        /// Its source and calling number.
        caller: crate::auth::guessing::Caller,
        /// The SIP Call-ID.
        sip_call_id: String,
        /// The INVITE's source address and port.
        source: std::net::SocketAddr,
        /// Over what it came.
        transport: crate::sip::transport::Transport,
    },
    /// The SIP side ended a call: forget its caller, write its record.
    CallGone {
        /// Which call.
        call: CallId,
        /// How it ended.
        reason: crate::call::EndReason,
    },
}

/// An admin question for one media worker, answered at its next tick on the reply channel
/// (a oneshot: the admin side awaits it without blocking a task, the worker never waits).
enum LiveRequest {
    /// Every meeting the worker owns, or only this one.
    Views {
        conference_id: Option<String>,
        reply: tokio::sync::oneshot::Sender<Vec<MeetingView>>,
    },
    /// An operator's control of a meeting the worker owns.
    Control {
        conference_id: String,
        control: Control,
        reply: tokio::sync::oneshot::Sender<ControlOutcome>,
    },
}

/// Why the media workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaStartError {
    /// epoll could not be set up.
    #[error("cannot set up media worker polling: {0}")]
    Poll(#[source] std::io::Error),
    /// The thread could not be spawned.
    #[error("cannot start media worker thread: {0}")]
    Thread(#[source] std::io::Error),
    /// `--rtp-send io-uring` on a kernel without io_uring (or one that forbids it).
    #[error("cannot set up io_uring for --rtp-send io-uring: {0}; use --rtp-send sendto")]
    IoUring(#[source] std::io::Error),
    /// `--media-realtime-priority` without the right to it.
    #[error(
        "cannot give the media threads real-time priority {priority} (SCHED_FIFO): {source}; \
         run the bridge as root or with CAP_SYS_NICE (systemd: AmbientCapabilities=CAP_SYS_NICE), \
         or leave out --media-realtime-priority"
    )]
    Realtime {
        /// The priority asked for.
        priority: u8,
        /// Why the kernel refused.
        #[source]
        source: std::io::Error,
    },
}

/// How many media threads run, and how: the thread-level choices of `serve`.
#[derive(Clone, Copy, Debug)]
pub struct MediaThreads {
    /// Worker threads (at least one is started).
    pub count: usize,
    /// How they hand RTP to the kernel (`--rtp-send`).
    pub rtp_send: crate::config::RtpSend,
    /// Their real-time priority, if any (`--media-realtime-priority`).
    pub realtime_priority: Option<u8>,
}

/// Starts the media workers; requests for the control side go to `control`, meeting
/// events to `events`. `shared` holds one RTP socket per worker for `--rtp-sockets
/// per-thread`, or nothing.
pub fn start(
    MediaThreads {
        count,
        rtp_send,
        realtime_priority,
    }: MediaThreads,
    shared: Vec<Arc<SharedRtp>>,
    assets: Arc<Assets>,
    config: WorkerConfig,
    control: tokio::sync::mpsc::UnboundedSender<ControlEvent>,
    events: EventSink,
) -> Result<(Arc<MediaHandle>, Vec<JoinHandle<()>>), MediaStartError> {
    let count = count.max(1);
    let mut senders = Vec::with_capacity(count);
    let mut receivers = Vec::with_capacity(count);
    let mut live = Vec::with_capacity(count);
    let mut live_receivers = Vec::with_capacity(count);
    let mut forwarded = Vec::with_capacity(count);
    let mut forwarded_receivers = Vec::with_capacity(count);
    let mut polls = Vec::with_capacity(count);
    for _ in 0..count {
        let (tx, rx) = crossbeam_channel::unbounded();
        let poll = Poll::new().map_err(MediaStartError::Poll)?;
        senders.push(tx);
        receivers.push(rx);
        let (tx, rx) = crossbeam_channel::unbounded();
        live.push(tx);
        live_receivers.push(rx);
        let (tx, rx) = crossbeam_channel::unbounded();
        forwarded.push(tx);
        forwarded_receivers.push(rx);
        polls.push(poll);
    }
    let homes = Arc::new(MeetingHomes::new(count));
    let handle = Arc::new(MediaHandle {
        senders,
        live,
        clock: WallClock::now(),
        placement: DashMap::new(),
        homes: Arc::clone(&homes),
        next: AtomicUsize::new(0),
        gauges: (0..count)
            .map(|_| Arc::new(WorkerGauges::default()))
            .collect(),
        shared,
        forwarded,
        shutdown: AtomicBool::new(false),
    });
    let mut threads = Vec::with_capacity(count);
    let channels = receivers
        .into_iter()
        .zip(live_receivers)
        .zip(forwarded_receivers);
    for (index, (poll, ((rx, live_rx), forwarded_rx))) in
        polls.into_iter().zip(channels).enumerate()
    {
        // Each worker's own RNG, seeded from the OS: SSRCs and RTP starts are unpredictable.
        let rng = rand::make_rng::<rand::rngs::StdRng>();
        let worker = Worker::new(
            index,
            Arc::clone(&homes),
            Arc::clone(&assets),
            config.clone(),
            rng,
        );
        let handle = Arc::clone(&handle);
        let outlets = Outlets {
            control: control.clone(),
            events: events.clone(),
        };
        // Made here so that a kernel without io_uring stops the start, not a media thread.
        let uring = match rtp_send {
            crate::config::RtpSend::SendTo => None,
            crate::config::RtpSend::IoUring => {
                Some(super::uring_send::UringSender::new().map_err(MediaStartError::IoUring)?)
            }
        };
        let thread = std::thread::Builder::new()
            .name(format!("media-{index}"))
            .spawn(move || {
                run(
                    index,
                    worker,
                    poll,
                    Inlets {
                        commands: rx,
                        live: live_rx,
                        forwarded: forwarded_rx,
                    },
                    handle,
                    outlets,
                    uring,
                )
            })
            .map_err(MediaStartError::Thread)?;
        if let Some(priority) = realtime_priority {
            super::realtime::make_realtime(&thread, priority)
                .map_err(|source| MediaStartError::Realtime { priority, source })?;
        }
        threads.push(thread);
    }
    if let Some(priority) = realtime_priority {
        tracing::info!(
            priority,
            threads = count,
            "media threads run with real-time priority (SCHED_FIFO)"
        );
    }
    Ok((handle, threads))
}

fn call_token(call: CallId) -> Token {
    Token(call.0 as usize)
}

/// Tells a relay leg's socket from its caller's: call ids never reach the top bit.
const LEG_BIT: usize = 1 << (usize::BITS - 1);

fn leg_token(call: CallId) -> Token {
    Token(call.0 as usize | LEG_BIT)
}

/// Datagrams taken per read of a shared socket, which holds a tick's worth for many calls.
const SHARED_BATCH: usize = 64;

/// What reaches a worker from outside: commands, admin questions, forwarded RTP.
struct Inlets {
    commands: Receiver<Command<MediaTransport>>,
    live: Receiver<LiveRequest>,
    forwarded: Receiver<ForwardBatch>,
}

/// Where a worker's requests and events leave it (neither send ever waits).
struct Outlets {
    control: tokio::sync::mpsc::UnboundedSender<ControlEvent>,
    events: EventSink,
}

fn run(
    index: usize,
    mut worker: Worker<MediaTransport>,
    mut poll: Poll,
    Inlets {
        commands,
        live,
        forwarded,
    }: Inlets,
    handle: Arc<MediaHandle>,
    Outlets {
        control,
        events: sink,
    }: Outlets,
    mut uring: Option<super::uring_send::UringSender>,
) {
    let mut events = Events::with_capacity(EVENTS_PER_POLL);
    let mut batch = RecvBatch::<BATCH>::default();
    let mut shared_batch = RecvBatch::<SHARED_BATCH>::default();
    let mut sends = SendBatch::default();
    // The shared socket is read every slice and never registered with the poll: a socket
    // with a waiter makes the kernel take its wait queue's lock for every datagram queued to
    // it and for every datagram it sends, which the worker, reading on its own clock, never
    // needs.
    let shared = handle.shared.get(index).cloned();
    let step = worker.slice_duration();
    let mut slice = worker.first_slice();
    let mut next_tick = Instant::now() + step;
    let gauges = handle.gauges.get(index).cloned().unwrap_or_default();
    let mut call_count = 0usize;
    let mut pending = Vec::new();
    let mut outgoing = Forwarder::new(handle.forwarded.len());
    while !handle.shutdown.load(Ordering::Relaxed) {
        // Sleep to the tick's next slice. RTP waits in its queues and is taken in one batch
        // per slice, so a busy worker wakes 50 times a second per slice, not once per packet.
        let wait = next_tick.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        // Commands and admin questions once a frame, just before the frame whose slices count
        // the calls (the last publishes the gauges): a call that arrives, leaves or starts a
        // meeting is in the gauges at the end of that frame (a command taken in a later slice
        // would be counted by some slices of the frame and not by others).
        if slice.is_first() {
            for command in commands.try_iter() {
                handle_command(index, &mut worker, &poll, &handle, now, command);
            }
            for request in live.try_iter() {
                answer_live(&mut worker, now, request);
            }
        }
        for batch in forwarded.try_iter() {
            for (call, source, data) in batch.iter() {
                if worker.call(call).is_some() {
                    worker.handle_rtp(now, call, source, data);
                } else if let Some(to) = home_elsewhere(&handle, index, call) {
                    outgoing.push(to, call, source, data);
                }
            }
        }
        if let Some(rtp) = &shared {
            drain_shared(
                &mut worker,
                &mut shared_batch,
                rtp,
                |w, route, source, data| match route {
                    Some(Route { call, .. }) if w.call(call).is_some() => {
                        w.handle_rtp(now, call, source, data);
                    }
                    Some(Route { call, home }) => {
                        // A call that has left for another thread, or ended.
                        if home != index {
                            outgoing.push(home, call, source, data);
                        }
                    }
                    None => {
                        gauges.rtp_unknown_source.fetch_add(1, Ordering::Relaxed);
                    }
                },
            );
        }
        loop {
            if let Err(err) = poll.poll(&mut events, Some(Duration::ZERO))
                && err.kind() != ErrorKind::Interrupted
            {
                tracing::error!(worker = index, error = %err, "media poll failed");
                break;
            }
            let mut ready = 0;
            for event in events.iter() {
                ready += 1;
                let token = event.token().0;
                let call = CallId((token & !LEG_BIT) as u64);
                if token & LEG_BIT != 0 {
                    let leg = |w: &Worker<MediaTransport>| {
                        w.call(call)
                            .and_then(|c| c.leg_transport())
                            .map(|leg| leg.fd())
                    };
                    drain(&mut worker, &mut batch, leg, |w, source, data| {
                        w.handle_leg_rtp(now, call, source, data)
                    });
                    continue;
                }
                let caller = |w: &Worker<MediaTransport>| w.call(call).map(|c| c.transport().fd());
                drain(&mut worker, &mut batch, caller, |w, source, data| {
                    w.handle_rtp(now, call, source, data)
                });
            }
            // A full batch means more sockets may be ready: edge-triggered epoll keeps them.
            if ready < EVENTS_PER_POLL {
                break;
            }
        }
        outgoing.flush(&handle.forwarded);
        // Relayed packets go on at once, not at the tick: a leg adds no frame of delay.
        worker.flush_relayed(&mut |transport: &MediaTransport, dest, bytes| {
            transport.send_now(dest, bytes);
        });
        let now = Instant::now();
        if now >= next_tick {
            let lateness = now - next_tick;
            worker.tick_slice(
                now,
                slice,
                &mut |transport: &MediaTransport, dest: SocketAddr, bytes: &[u8]| {
                    match (transport.shared(), uring.as_mut()) {
                        (Some(rtp), _) => sends.queue(rtp.fd(), dest, bytes),
                        (None, Some(ring)) => ring.queue(transport.fd(), dest, bytes),
                        // A full socket buffer drops this frame; the next tick sends the next one.
                        (None, None) => transport.send_now(dest, bytes),
                    }
                },
            );
            if let Some(ring) = uring.as_mut() {
                ring.flush();
            }
            if !sends.is_empty() {
                let flushed = sends.flush();
                gauges
                    .rtp_send_dropped
                    .fetch_add(flushed.dropped as u64, Ordering::Relaxed);
            }
            let last_frame_late = Instant::now().saturating_duration_since(next_tick);
            gauges
                .send_lateness
                .observe_us(last_frame_late.as_micros().min(u128::from(u64::MAX)) as u64);
            if let Some(report) = worker.take_move_report() {
                let sent = Instant::now();
                let us = |d: Duration| d.as_micros().min(u128::from(u64::MAX)) as u64;
                gauges
                    .last_move_callers
                    .store(report.callers as u64, Ordering::Relaxed);
                gauges.last_move_pin_to_tick_us.store(
                    report
                        .pin_submitted_at
                        .map_or(0, |p| us(now.saturating_duration_since(p))),
                    Ordering::Relaxed,
                );
                gauges
                    .last_move_tick_us
                    .store(us(sent.saturating_duration_since(now)), Ordering::Relaxed);
            }
            next_tick += step;
            if now > next_tick + FRAME_DURATION * 5 {
                // Far behind (the machine stalled): skip ahead instead of bursting.
                next_tick = now + step;
            }
            let lateness_us = lateness.as_micros().min(u128::from(u64::MAX)) as u64;
            gauges
                .max_tick_lateness_us
                .fetch_max(lateness_us, Ordering::Relaxed);
            gauges.tick_lateness.observe_us(lateness_us);
            if slice.is_first() {
                gauges.ticks.fetch_add(1, Ordering::Relaxed);
            }
            if slice.is_last() {
                gauges.publish(worker.stats());
            }
            slice = slice.next();
        }
        pending.extend(worker.drain_events());
        for event in pending.drain(..) {
            match event {
                Event::Control(request) => {
                    let _ = control.send(ControlEvent::Media(request));
                }
                Event::Migrate { to, mut call } => {
                    if let Some(socket) = call.transport_mut().own_socket() {
                        let _ = poll.registry().deregister(socket);
                    }
                    if let Some(rtp) = call.transport().shared() {
                        rtp.rehome(call.id(), to);
                    }
                    handle.placement.insert(call.id(), to);
                    handle.send_to_worker(to, Command::Adopt(call));
                }
                Event::Forward { to, command } => handle.send_to_worker(to, *command),
                Event::Closed { call } => {
                    handle.placement.remove_if(&call, |_, w| *w == index);
                }
                Event::Live(event) if sink.wanted() => sink.send(handle.clock.event(*event)),
                Event::Live(_) => {}
            }
        }
        let calls = worker.call_count();
        if calls != call_count {
            call_count = calls;
            gauges.calls.store(calls, Ordering::Relaxed);
        }
    }
}

/// The worker that has `call` now, when not worker `index` (a datagram for it arrived on a
/// shared socket whose worker the call has left); None if the call has ended.
fn home_elsewhere(handle: &MediaHandle, index: usize, call: CallId) -> Option<usize> {
    let to = handle.placement.get(&call).map(|e| *e.value())?;
    (to != index).then_some(to)
}

/// Reads a ready socket to the end of its queue, handing each datagram to `handle`; `fd`
/// finds the socket again before each read, since a datagram may have ended the call.
fn drain<const N: usize>(
    worker: &mut Worker<MediaTransport>,
    batch: &mut RecvBatch<N>,
    fd: impl Fn(&Worker<MediaTransport>) -> Option<std::os::fd::RawFd>,
    mut handle: impl FnMut(&mut Worker<MediaTransport>, SocketAddr, &[u8]),
) {
    drain_batches(worker, batch, fd, |worker, batch| {
        for (source, data) in batch.datagrams() {
            handle(worker, source, data);
        }
    });
}

/// The read loop of [`drain`] and [`drain_shared`]: `handle` gets each batch as it is read.
fn drain_batches<const N: usize>(
    worker: &mut Worker<MediaTransport>,
    batch: &mut RecvBatch<N>,
    fd: impl Fn(&Worker<MediaTransport>) -> Option<std::os::fd::RawFd>,
    mut handle: impl FnMut(&mut Worker<MediaTransport>, &RecvBatch<N>),
) {
    while let Some(fd) = fd(worker) {
        match batch.recv(fd) {
            Ok(n) => {
                handle(worker, batch);
                // A short batch means the queue was empty after it: no second, empty read.
                if n < N {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // ICMP port unreachable and the like: the next datagram may be fine.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
            Err(_) => break,
        }
    }
}

/// How many datagrams ahead of the one handled its call's fields are asked for, and its
/// jitter buffer (whose address those fields hold) half as many: far enough for the loads to
/// arrive, near enough that a batch's lines do not push each other out of the cache first.
const RTP_AHEAD: usize = 8;
const RTP_AUDIO_AHEAD: usize = RTP_AHEAD / 2;

/// [`drain`] for a worker's shared socket: each batch's senders (and the threads that have
/// their calls) are looked up under one lock, and each datagram's call state is asked for a
/// few datagrams before it is handled, so that the cache misses of a batch's calls overlap.
fn drain_shared(
    worker: &mut Worker<MediaTransport>,
    batch: &mut RecvBatch<SHARED_BATCH>,
    rtp: &SharedRtp,
    mut handle: impl FnMut(&mut Worker<MediaTransport>, Option<Route>, SocketAddr, &[u8]),
) {
    let fd = rtp.fd();
    let here = rtp.worker();
    drain_batches(
        worker,
        batch,
        |_| Some(fd),
        |worker, batch| {
            let routes: [Option<Route>; SHARED_BATCH] =
                rtp.lookup_each(batch.datagrams().map(|(source, _)| source));
            let mut datagrams: [Option<(SocketAddr, &[u8])>; SHARED_BATCH] = [None; SHARED_BATCH];
            for (slot, datagram) in datagrams.iter_mut().zip(batch.datagrams()) {
                *slot = Some(datagram);
            }
            // The call of datagram `i`, when this thread has it.
            let mine = |i: usize| match (routes.get(i), datagrams.get(i)) {
                (Some(Some(route)), Some(Some((_, data)))) if route.home == here => {
                    Some((route.call, *data))
                }
                _ => None,
            };
            for i in 0..RTP_AHEAD {
                if let Some((call, _)) = mine(i) {
                    worker.prefetch_rtp(call);
                }
            }
            for i in 0..RTP_AUDIO_AHEAD {
                if let Some((call, data)) = mine(i) {
                    worker.prefetch_rtp_audio(call, data);
                }
            }
            for (i, (route, datagram)) in routes.iter().zip(datagrams.iter()).enumerate() {
                let Some((source, data)) = datagram else {
                    break;
                };
                if let Some((call, _)) = mine(i + RTP_AHEAD) {
                    worker.prefetch_rtp(call);
                }
                if let Some((call, data)) = mine(i + RTP_AUDIO_AHEAD) {
                    worker.prefetch_rtp_audio(call, data);
                }
                handle(worker, *route, *source, data);
            }
        },
    );
}

/// Answers an admin question; an asker that gave up (timed out) is not an error.
fn answer_live(worker: &mut Worker<MediaTransport>, now: Instant, request: LiveRequest) {
    match request {
        LiveRequest::Views {
            conference_id,
            reply,
        } => {
            let views = match conference_id {
                Some(id) => worker.meeting_view(&id).into_iter().collect(),
                None => worker.meeting_views(),
            };
            let _ = reply.send(views);
        }
        LiveRequest::Control {
            conference_id,
            control,
            reply,
        } => {
            let _ = reply.send(worker.control(now, &conference_id, control));
        }
    }
}

fn handle_command(
    index: usize,
    worker: &mut Worker<MediaTransport>,
    poll: &Poll,
    handle: &MediaHandle,
    now: Instant,
    command: Command<MediaTransport>,
) {
    match command {
        Command::Start {
            call,
            mut transport,
            sip_call_id,
            from,
            params,
            entry,
        } => {
            if let Some(socket) = transport.own_socket()
                && let Err(err) =
                    poll.registry()
                        .register(socket, call_token(call), Interest::READABLE)
            {
                tracing::error!(call = call.0, error = %err, "cannot poll the call's RTP socket");
            }
            worker.handle_command(
                now,
                Command::Start {
                    call,
                    transport,
                    sip_call_id,
                    from,
                    params,
                    entry,
                },
            );
        }
        Command::Adopt(mut media) => {
            let (id, token) = (media.id(), call_token(media.id()));
            if let Some(socket) = media.transport_mut().own_socket()
                && let Err(err) = poll.registry().register(socket, token, Interest::READABLE)
            {
                tracing::error!(call = id.0, error = %err, "cannot poll a migrated call's RTP socket");
            }
            worker.handle_command(now, Command::Adopt(media));
        }
        Command::StartMeeting { conference } => {
            worker.handle_command(now, Command::StartMeeting { conference });
        }
        Command::Goodbye => worker.handle_command(now, Command::Goodbye),
        Command::RelayUp {
            call,
            mut leg,
            remote,
        } => {
            if worker.call(call).is_none() {
                // The caller hung up meanwhile: the leg's socket goes with this command.
                return;
            }
            if let Some(socket) = leg.own_socket()
                && let Err(err) =
                    poll.registry()
                        .register(socket, leg_token(call), Interest::READABLE)
            {
                tracing::error!(call = call.0, error = %err, "cannot poll the relay leg's RTP socket");
            }
            worker.handle_command(now, Command::RelayUp { call, leg, remote });
        }
        other => {
            let call = match &other {
                Command::Update { call, .. }
                | Command::Digit { call, .. }
                | Command::Stop { call }
                | Command::ConferenceFound { call, .. }
                | Command::ConferenceRefused { call }
                | Command::DirectoryUnavailable { call }
                | Command::PinChangeResult { call, .. }
                | Command::PinChecked { call, .. }
                | Command::HostedElsewhere { call, .. }
                | Command::Rehome { call, .. }
                | Command::RelayFailed { call }
                | Command::RelayEnded { call } => *call,
                _ => return,
            };
            if let Command::Update { params, .. } = &other
                && let Some(rtp) = worker.call(call).and_then(|c| c.transport().shared())
            {
                // A re-INVITE's new address is where the call's RTP comes from now.
                rtp.route(call, params.remote, index);
            }
            if worker.call(call).is_none() {
                // The call moved to another worker after the sender looked it up: follow it.
                let elsewhere = handle.placement.get(&call).map(|e| *e.value());
                if let Some(to) = elsewhere
                    && to != index
                {
                    handle.send_to_worker(to, other);
                }
                return;
            }
            worker.handle_command(now, other);
        }
    }
}

mod handle;

pub use handle::MediaHandle;
use handle::WallClock;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_clock_instants_read_as_utc_times_from_one_anchor() {
        let instant = Instant::now();
        let clock = WallClock {
            instant,
            system: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        assert_eq!(clock.rfc3339(instant), "2027-01-15T08:00:00Z");
        assert_eq!(
            clock.rfc3339(instant + Duration::from_millis(61_700)),
            "2027-01-15T08:01:01Z"
        );
        if let Some(before) = instant.checked_sub(Duration::from_secs(3600)) {
            assert_eq!(clock.rfc3339(before), "2027-01-15T07:00:00Z");
        }
    }
}
