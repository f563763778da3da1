//! The control side's handle on the media workers: which worker has a call or hosts a
//! meeting, their commands and admin questions, and the wall-clock view of their answers.

use super::*;

/// Turns the media clock's instants into wall-clock times, from one anchor taken at start:
/// a meeting's start and a caller's join read the same in every answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct WallClock {
    pub(super) instant: Instant,
    pub(super) system: SystemTime,
}

impl WallClock {
    pub(super) fn now() -> Self {
        WallClock {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    /// RFC 3339 UTC, to the second.
    pub(super) fn rfc3339(&self, at: Instant) -> String {
        let system = match at.checked_duration_since(self.instant) {
            Some(after) => self.system + after,
            None => self.system - self.instant.saturating_duration_since(at),
        };
        live::rfc3339(system)
    }

    pub(super) fn meeting(&self, view: MeetingView) -> live::Meeting {
        live::Meeting {
            conference_id: view.conference_id,
            organizer_id: Some(view.organizer_id),
            state: match view.state {
                MeetingPhase::Lobby => live::MeetingState::Lobby,
                MeetingPhase::Running => live::MeetingState::Running,
                MeetingPhase::Ended => live::MeetingState::Ended,
            },
            locked: view.locked,
            started_at: view.started_at.map(|at| self.rfc3339(at)),
            participants: view
                .participants
                .into_iter()
                .map(|p| self.participant(p))
                .collect(),
        }
    }

    pub(super) fn participant(&self, p: ParticipantView) -> live::Participant {
        live::Participant {
            id: p.id.0,
            role: match p.role {
                Role::Organizer => live::ParticipantRole::Organizer,
                Role::Attendee => live::ParticipantRole::Attendee,
            },
            state: match p.state {
                Attendance::Lobby => live::ParticipantState::Lobby,
                Attendance::Meeting => live::ParticipantState::Meeting,
            },
            from: p.from,
            codec: p.codec.encoding_name().to_string(),
            muted: p.muted,
            talking: p.talking,
            hand_raised: p.hand_raised,
            joined_at: self.rfc3339(p.joined_at),
        }
    }

    /// A worker's event as the events carry it, stamped now (within the tick it happened
    /// in); the events task gives it its id.
    pub(super) fn event(&self, e: LiveEvent) -> live::EventRecord {
        live::EventRecord {
            id: String::new(),
            kind: e.kind.as_str(),
            time: live::rfc3339(SystemTime::now()),
            conference_id: e.conference_id,
            organizer_id: Some(e.organizer_id),
            participant: e.participant.map(|p| self.participant(p)),
            by: e.by,
            waiting: e.waiting,
            locked_until: None,
        }
    }
}

/// How long the admin side waits for a worker's answer (it comes within a 20 ms tick; a
/// worker that does not answer is stopping).
const LIVE_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// The control side's handle on all media workers.
pub struct MediaHandle {
    pub(super) senders: Vec<Sender<Command<MediaTransport>>>,
    pub(super) live: Vec<Sender<LiveRequest>>,
    pub(super) clock: WallClock,
    pub(super) placement: DashMap<CallId, usize>,
    /// Which worker hosts each meeting.
    pub(super) homes: Arc<MeetingHomes>,
    pub(super) next: AtomicUsize,
    pub(super) gauges: Vec<Arc<WorkerGauges>>,
    /// Each media thread's shared RTP socket (`--rtp-sockets per-thread`; empty otherwise).
    pub(super) shared: Vec<Arc<SharedRtp>>,
    /// RTP that reached a shared socket whose thread no longer has the call, for the thread
    /// that does.
    pub(super) forwarded: Vec<Sender<ForwardBatch>>,
    pub(super) shutdown: AtomicBool,
}

impl MediaHandle {
    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.senders.len()
    }

    /// Per-worker gauges.
    pub fn gauges(&self) -> &[Arc<WorkerGauges>] {
        &self.gauges
    }

    pub(super) fn send_to_worker(&self, index: usize, command: Command<MediaTransport>) {
        // No wake-up: the worker takes its commands at the next 20 ms tick. A send only
        // fails when the worker has exited at shutdown: nothing to do then.
        if let Some(tx) = self.senders.get(index) {
            let _ = tx.send(command);
        }
    }

    /// The least busy worker (ties taken in turn).
    pub(super) fn least_busy(&self) -> usize {
        let n = self.senders.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&i| {
                self.gauges
                    .get(i)
                    .map_or(usize::MAX, |g| g.calls.load(Ordering::Relaxed))
            })
            .unwrap_or(0)
    }

    /// With `--rtp-sockets per-thread`: the least busy worker's shared socket for a new call,
    /// and its port for the SDP. None with a socket per call.
    pub fn shared_transport(&self, call: CallId) -> Option<(MediaTransport, u16)> {
        if self.shared.is_empty() {
            // Not even a turn of the tie-break: `start_call` takes that one.
            return None;
        }
        let rtp = self.shared.get(self.least_busy())?;
        let port = rtp.port();
        let transport = MediaTransport {
            kind: TransportKind::Shared {
                rtp: Arc::clone(rtp),
                call,
            },
        };
        Some((transport, port))
    }

    /// Starts a call's media: on its shared socket's worker, else on the least busy one.
    pub fn start_call(
        &self,
        call: CallId,
        transport: MediaTransport,
        sip_call_id: String,
        from: String,
        params: crate::sip::sdp::Negotiated,
        entry: crate::engine::Entry,
    ) {
        let index = match transport.shared() {
            Some(rtp) => {
                rtp.route(call, params.remote, rtp.worker());
                rtp.worker()
            }
            None => self.least_busy(),
        };
        self.placement.insert(call, index);
        self.send_to_worker(
            index,
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

    /// Sends a command to whichever worker has the call now.
    pub fn send(&self, call: CallId, command: Command<MediaTransport>) {
        let index = self.placement.get(&call).map(|e| *e.value());
        if let Some(index) = index {
            self.send_to_worker(index, command);
        }
    }

    /// Sends a command to the worker that owns a conference's meeting.
    pub fn send_to_conference_owner(&self, conference_id: &str, command: Command<MediaTransport>) {
        let index = self.homes.home(conference_id);
        self.send_to_worker(index, command);
    }

    /// Asks every worker to say goodbye to all its callers and hang them up (shutdown).
    pub fn goodbye_all(&self) {
        for index in 0..self.senders.len() {
            self.send_to_worker(index, Command::Goodbye);
        }
    }

    /// Asks every worker to stop (each sees it within one 20 ms tick).
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
}

impl MediaHandle {
    /// Asks workers for their meeting views (None: every worker; the views of one meeting
    /// come from its owner only).
    pub(super) fn views(&self, conference_id: Option<&str>) -> LiveAnswer<Vec<live::Meeting>> {
        let indices: Vec<usize> = match conference_id {
            // A meeting nobody hosts has no views: no worker is asked.
            Some(id) => self.homes.find(id).into_iter().collect(),
            None => (0..self.live.len()).collect(),
        };
        let mut answers = Vec::with_capacity(indices.len());
        for index in indices {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let request = LiveRequest::Views {
                conference_id: conference_id.map(str::to_string),
                reply,
            };
            if let Some(tx) = self.live.get(index)
                && tx.send(request).is_ok()
            {
                answers.push(answer);
            }
        }
        let clock = self.clock;
        Box::pin(async move {
            let mut meetings = Vec::new();
            for answer in answers {
                // A worker that stopped has no meetings to show.
                if let Ok(Ok(views)) = tokio::time::timeout(LIVE_ANSWER_TIMEOUT, answer).await {
                    meetings.extend(views.into_iter().map(|v| clock.meeting(v)));
                }
            }
            meetings.sort_by(|a, b| a.conference_id.cmp(&b.conference_id));
            meetings
        })
    }
}

impl crate::admin::service::LiveMeetings for MediaHandle {
    fn start_meeting(&self, conference: crate::call::Conference) {
        let owner = conference.conference_id.clone();
        self.send_to_conference_owner(&owner, Command::StartMeeting { conference });
    }

    fn meetings(&self) -> LiveAnswer<Vec<live::Meeting>> {
        self.views(None)
    }

    fn meeting(&self, conference_id: &str) -> LiveAnswer<Option<live::Meeting>> {
        let views = self.views(Some(conference_id));
        Box::pin(async move { views.await.into_iter().next() })
    }

    fn control(
        &self,
        conference_id: &str,
        action: MeetingAction,
    ) -> LiveAnswer<Result<live::Meeting, ActionRefused>> {
        let conference = conference_id.to_string();
        let control = match action {
            MeetingAction::Lock => Control::Lock,
            MeetingAction::Unlock => Control::Unlock,
            MeetingAction::AdmitAll => Control::AdmitAll,
            MeetingAction::End => Control::End,
            MeetingAction::Mute(id) => Control::Mute(CallId(id)),
            MeetingAction::Unmute(id) => Control::Unmute(CallId(id)),
            MeetingAction::Kick(id) => Control::Kick(CallId(id)),
            MeetingAction::Admit(id) => Control::Admit(CallId(id)),
            MeetingAction::Deny(id) => Control::Deny(CallId(id)),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let index = self.homes.find(conference_id);
        let sent = index.and_then(|i| self.live.get(i)).is_some_and(|tx| {
            tx.send(LiveRequest::Control {
                conference_id: conference.clone(),
                control,
                reply,
            })
            .is_ok()
        });
        let clock = self.clock;
        Box::pin(async move {
            let not_found = || ActionRefused::MeetingNotFound {
                conference_id: conference.clone(),
            };
            if !sent {
                return Err(not_found());
            }
            match tokio::time::timeout(LIVE_ANSWER_TIMEOUT, answer).await {
                Ok(Ok(ControlOutcome::Done(view))) => Ok(clock.meeting(view)),
                Ok(Ok(ControlOutcome::NotFound(Missing::Participant))) => {
                    Err(ActionRefused::ParticipantNotFound {
                        conference_id: conference.clone(),
                        id: action.participant().unwrap_or_default(),
                    })
                }
                Ok(Ok(ControlOutcome::NotApplicable(why))) => {
                    Err(ActionRefused::NotApplicable(why.to_string()))
                }
                // Unknown here, or the worker is stopping: no meeting to steer.
                Ok(Ok(ControlOutcome::NotFound(Missing::Meeting))) | Ok(Err(_)) | Err(_) => {
                    Err(not_found())
                }
            }
        })
    }
}
