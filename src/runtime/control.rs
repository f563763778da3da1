//! The control task: the directory's side of calls (conference look-ups, PIN checks and
//! changes, lockout and lobby mails, call records), off the media and SIP paths.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use super::telemetry::SipGauges;
use crate::call::CallId;
use crate::directory::Directory;
use crate::engine::{Command, Request};

use super::call_rules::{CallRules, Lookup, PinCounter, after_pin_check};
use super::media::{ControlEvent, MediaHandle};
use super::security_event;

/// Who hears about a PIN locked until reset, and where organizers can reset it.
#[derive(Clone)]
pub(super) struct LockMail {
    pub(super) mailer: crate::notify::Mailer,
    pub(super) admins: Vec<String>,
    pub(super) self_service_url: Option<String>,
}

impl LockMail {
    /// E-mails the organizer (at their PIN address) and every configured admin.
    async fn send(&self, directory: &Directory, organizer_id: i64) {
        let org = match directory.organizer(organizer_id).await {
            Ok(org) => org,
            Err(err) => {
                tracing::error!(organizer_id, error = %err, "cannot read the organizer to tell them their PIN is locked");
                return;
            }
        };
        let failures = directory.lockout_policy().hard_lock_after;
        let send = |to: &str, (subject, text_body): (String, String)| {
            self.mailer.send(crate::notify::Mail {
                to: to.to_string(),
                subject,
                text_body,
                kind: crate::notify::MailKind::PinLocked,
                organizer_id: Some(org.id),
            });
        };
        send(
            org.mail_address(),
            crate::notify::pin_locked(&org.name, failures, self.self_service_url.as_deref(), false),
        );
        let for_admins = crate::notify::pin_locked(&org.name, failures, None, true);
        for admin in &self.admins {
            send(admin, for_admins.clone());
        }
    }
}

/// What the directory task needs besides the directory and the media workers.
pub(super) struct DirectoryDuties {
    pub(super) cdr: crate::cdr::CdrLog,
    pub(super) hangups: mpsc::UnboundedSender<CallId>,
    pub(super) lock_mail: LockMail,
    pub(super) guessing: crate::auth::guessing::GuessLimits,
    pub(super) gauges: Arc<SipGauges>,
    pub(super) events: super::events::EventSink,
    /// With a shared PostgreSQL directory: the meeting leases look-ups claim.
    pub(super) cluster: Option<super::cluster::ClusterHandle>,
    /// Relay legs to open, for the SIP task; None: this node has no cluster secret, so its
    /// callers join here even when their meeting is hosted elsewhere.
    pub(super) relays: Option<mpsc::UnboundedSender<super::relay_legs::RelayRequest>>,
}

/// Answers the media workers' directory questions off the media path.
pub(super) async fn serve_directory(
    directory: Directory,
    media: Arc<MediaHandle>,
    mut events: mpsc::UnboundedReceiver<ControlEvent>,
    duties: DirectoryDuties,
) {
    let DirectoryDuties {
        mut cdr,
        hangups,
        lock_mail,
        guessing,
        gauges,
        events: event_sink,
        cluster,
        relays,
    } = duties;
    // Shared with the look-up tasks, which count an unknown ID when the answer comes.
    let rules = Arc::new(std::sync::Mutex::new(CallRules::new(guessing)));
    while let Some(event) = events.recv().await {
        match event {
            ControlEvent::CallerKnown {
                call,
                caller,
                sip_call_id,
                source,
                transport,
            } => {
                let transport = transport.as_param();
                cdr.started(
                    call,
                    sip_call_id,
                    caller.from_user.clone(),
                    source,
                    transport,
                );
                if let Ok(mut r) = rules.lock() {
                    r.caller_known(call, caller);
                }
            }
            ControlEvent::CallGone { call, reason } => {
                if let Ok(mut r) = rules.lock() {
                    r.call_gone(call);
                }
                cdr.ended(call, reason);
            }
            ControlEvent::Media(Request::Joined {
                call,
                conference_id,
                role,
            }) => cdr.joined(call, conference_id, role),
            ControlEvent::Media(Request::ChangePin {
                call,
                organizer_id,
                pin,
            }) => {
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let mailer = lock_mail.mailer.clone();
                tokio::spawn(async move {
                    use crate::engine::PinChangeOutcome;
                    let actor = crate::directory::Actor {
                        who: "organizer".into(),
                        source: "phone".into(),
                    };
                    let outcome = match directory.choose_pin(&actor, organizer_id, &pin).await {
                        Ok(()) => PinChangeOutcome::Changed,
                        Err(crate::directory::DirectoryError::PinLength { expected }) => {
                            PinChangeOutcome::WrongLength(expected)
                        }
                        Err(crate::directory::DirectoryError::PinTooEasy) => {
                            PinChangeOutcome::TooEasy
                        }
                        Err(err) => {
                            tracing::error!(call = call.0, organizer_id, error = %err, "PIN change by phone failed");
                            PinChangeOutcome::Failed
                        }
                    };
                    drop(pin);
                    tracing::info!(call = call.0, organizer_id, outcome = ?outcome, "PIN change by phone");
                    media.send(call, Command::PinChangeResult { call, outcome });
                    if outcome == PinChangeOutcome::Changed
                        && let Ok(org) = directory.organizer(organizer_id).await
                    {
                        let (subject, text_body) = crate::notify::pin_changed_by_phone(&org.name);
                        mailer.send(crate::notify::Mail {
                            to: org.mail_address().to_string(),
                            subject,
                            text_body,
                            kind: crate::notify::MailKind::Other,
                            organizer_id: Some(org.id),
                        });
                    }
                });
            }
            ControlEvent::Media(Request::LookupConference { call, digits }) => {
                let lookup = rules.lock().map(|mut r| r.lookup(call, Instant::now()));
                let caller = match lookup {
                    Ok(Lookup::Go { caller }) => caller,
                    Ok(Lookup::Refuse { caller, limit }) => {
                        cut_off(call, &caller, limit, "this node", &gauges, &media);
                        continue;
                    }
                    // A poisoned lock (a panic elsewhere): the look-up still goes ahead.
                    Err(_) => None,
                };
                // A meeting others dialled in the last second is answered here, with no task
                // and no database round trip; a cluster node still claims it below.
                if cluster.is_none()
                    && let Some(conference) = directory.recent_conference(&digits)
                {
                    media.send(
                        call,
                        Command::ConferenceFound {
                            call,
                            conference: Some(conference),
                        },
                    );
                    continue;
                }
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let rules = Arc::clone(&rules);
                let cluster = cluster.clone();
                let relaying = relays.is_some();
                // With a cluster the guessing limits are also counted in the shared database.
                let shared = match (&cluster, &caller) {
                    (Some(_), Some(c)) => rules.lock().ok().map(|r| r.shared_counters(c)),
                    _ => None,
                };
                let gauges = Arc::clone(&gauges);
                tokio::spawn(async move {
                    if let (Some(cluster), Some((counters, _)), Some(c)) =
                        (&cluster, &shared, &caller)
                        && let Some(limit) = cluster.guesses_over(counters).await
                    {
                        cut_off(call, c, limit, "the cluster's nodes", &gauges, &media);
                        return;
                    }
                    let conference = match directory.lookup_conference(&digits).await {
                        Ok(found) => found,
                        Err(err) => {
                            tracing::error!(call = call.0, error = %err, "conference lookup failed: telling the caller to call again later");
                            media.send(call, Command::DirectoryUnavailable { call });
                            return;
                        }
                    };
                    if conference.is_none()
                        && let Some(c) = &caller
                        && let Ok(mut r) = rules.lock()
                    {
                        r.unknown_conference(c, Instant::now());
                    }
                    if conference.is_none()
                        && let (Some(cluster), Some((counters, window))) = (&cluster, &shared)
                    {
                        cluster.count_guess(counters, *window).await;
                    }
                    if let (Some(cluster), Some(found)) = (&cluster, &conference) {
                        match cluster.claim(&found.conference_id).await {
                            Ok(super::cluster::Owner::Here) => {}
                            Ok(super::cluster::Owner::Elsewhere { node, advertise }) => {
                                let sip = advertise.as_deref().and_then(|a| a.parse().ok());
                                match sip {
                                    Some(sip) if relaying => {
                                        tracing::info!(call = call.0, conference = %found.conference_id, owner = %node, owner_sip = %sip, "meeting hosted by another node: the caller will be relayed there");
                                        let target = crate::engine::RelayTarget { node, sip };
                                        media.send(call, Command::HostedElsewhere { call, target });
                                    }
                                    // Without a secret (or an address) no leg can be opened:
                                    // the caller joins here, splitting this meeting's callers.
                                    _ => {
                                        tracing::warn!(call = call.0, conference = %found.conference_id, owner = %node, owner_sip = advertise.as_deref().unwrap_or("unknown"), "meeting hosted by another node: the caller joins here instead (no --cluster-secret-file here for a relay leg)")
                                    }
                                }
                            }
                            Err(err) => {
                                tracing::error!(call = call.0, error = %err, "cannot claim the meeting: telling the caller to call again later");
                                media.send(call, Command::DirectoryUnavailable { call });
                                return;
                            }
                        }
                    }
                    media.send(call, Command::ConferenceFound { call, conference });
                });
            }
            ControlEvent::Media(Request::VerifyPin {
                call,
                conference,
                pin,
            }) => {
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let lock_mail = lock_mail.clone();
                let source = rules.lock().ok().and_then(|r| r.source(call));
                let gauges = Arc::clone(&gauges);
                let event_sink = event_sink.clone();
                tokio::spawn(async move {
                    let check = match directory.check_pin(conference.organizer_id, &pin, "").await {
                        Ok(check) => check,
                        Err(err) => {
                            tracing::error!(call = call.0, error = %err, "PIN check failed: telling the caller to call again later");
                            media.send(call, Command::DirectoryUnavailable { call });
                            return;
                        }
                    };
                    drop(pin);
                    let ok = check.accepted();
                    tracing::info!(call = call.0, conference = %conference.conference_id, accepted = ok, "organizer PIN checked");
                    media.send(call, Command::PinChecked { call, ok });
                    let follow_up = after_pin_check(check, source);
                    let counter = match follow_up.counter {
                        PinCounter::Accepted => &gauges.pins_accepted,
                        PinCounter::Refused => &gauges.pins_refused,
                        PinCounter::Locked => &gauges.pins_locked,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if let Some(ip) = follow_up.security_event {
                        security_event(ip, "wrong-pin");
                    }
                    let locked = match check {
                        crate::directory::PinCheck::RefusedAndLocked { until } => Some(Some(until)),
                        crate::directory::PinCheck::RefusedAndLockedUntilReset => Some(None),
                        _ => None,
                    };
                    if let Some(until) = locked {
                        event_sink.send(pin_locked_event(&conference, until));
                    }
                    match check {
                        crate::directory::PinCheck::RefusedAndLocked { until } => {
                            tracing::warn!(
                                organizer_id = conference.organizer_id,
                                locked_for_s = until - crate::directory::system_unix_time(),
                                "too many wrong PINs: PIN locked for a while"
                            );
                        }
                        crate::directory::PinCheck::RefusedAndLockedUntilReset => {
                            tracing::warn!(
                                organizer_id = conference.organizer_id,
                                "too many wrong PINs: PIN locked until reset"
                            );
                        }
                        _ => {}
                    }
                    if follow_up.lock_mail {
                        lock_mail.send(&directory, conference.organizer_id).await;
                    }
                });
            }
            ControlEvent::Media(Request::LobbyWaiting {
                conference,
                callers,
                waited,
            }) => {
                let directory = directory.clone();
                let mailer = lock_mail.mailer.clone();
                let gauges = Arc::clone(&gauges);
                tokio::spawn(async move {
                    let org = match directory.organizer(conference.organizer_id).await {
                        Ok(org) => org,
                        Err(err) => {
                            tracing::error!(organizer_id = conference.organizer_id, error = %err, "cannot read the organizer to tell them callers are waiting");
                            return;
                        }
                    };
                    let (subject, text_body) = crate::notify::lobby_waiting(
                        &org.name,
                        &conference.conference_id,
                        callers,
                        waited,
                    );
                    mailer.send(crate::notify::Mail {
                        to: org.mail_address().to_string(),
                        subject,
                        text_body,
                        kind: crate::notify::MailKind::LobbyWaiting,
                        organizer_id: Some(org.id),
                    });
                    gauges.lobby_mails.fetch_add(1, Ordering::Relaxed);
                });
            }
            ControlEvent::Media(Request::OpenRelay {
                call,
                conference_id,
                role,
                target,
                params,
            }) => {
                let order = super::relay_legs::RelayOrder {
                    call,
                    conference_id,
                    role,
                    target,
                    params: *params,
                };
                // The engine asks only when a target was given, which needs `relays`.
                if let Some(relays) = &relays
                    && relays
                        .send(super::relay_legs::RelayRequest::Open(Box::new(order)))
                        .is_err()
                {
                    tracing::debug!(call = call.0, "SIP task gone: relay leg not opened");
                }
            }
            ControlEvent::Media(Request::Rehome {
                call,
                conference_id,
                role: _,
                from_node,
            }) => {
                if let Some(relays) = &relays {
                    let _ = relays.send(super::relay_legs::RelayRequest::Drop(call));
                }
                match &cluster {
                    Some(cluster) => {
                        let cluster = cluster.clone();
                        let media = Arc::clone(&media);
                        tokio::spawn(super::cluster::rehome(
                            cluster,
                            media,
                            call,
                            conference_id,
                            from_node,
                        ));
                    }
                    None => media.send(call, Command::RelayFailed { call }),
                }
            }
            ControlEvent::Media(Request::Hangup { call, reason }) => {
                tracing::debug!(call = call.0, ?reason, "media asks for hangup");
                cdr.bridge_hangup(call, reason);
                let _ = hangups.send(call);
            }
        }
    }
}

/// Refuses a caller over a guessing limit (counted `on`: this node, or the cluster's) before
/// the look-up: logged, counted, reported as a security event, told "too many attempts".
fn cut_off(
    call: CallId,
    caller: &crate::auth::guessing::Caller,
    limit: crate::auth::guessing::CutOff,
    on: &str,
    gauges: &SipGauges,
    media: &MediaHandle,
) {
    tracing::warn!(
        call = call.0,
        source = %caller.source,
        from = caller.from_user.as_deref().unwrap_or(""),
        limit = ?limit,
        counted_on = on,
        "too many unknown conference IDs lately: caller cut off"
    );
    gauges.guessers_cut_off.fetch_add(1, Ordering::Relaxed);
    security_event(caller.source, "conference-id-guessing");
    media.send(call, Command::ConferenceRefused { call });
}

/// The `organizer.pin_locked` event: too many wrong PINs for this conference's organizer,
/// locked until `until` (unix seconds; None: until an administrator resets it).
fn pin_locked_event(
    conference: &crate::call::Conference,
    until: Option<i64>,
) -> crate::admin::live::EventRecord {
    use crate::admin::live::{EventRecord, rfc3339};
    let unix = |s: i64| {
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0).unsigned_abs())
    };
    EventRecord {
        id: String::new(),
        kind: "organizer.pin_locked",
        time: rfc3339(std::time::SystemTime::now()),
        conference_id: conference.conference_id.clone(),
        organizer_id: Some(conference.organizer_id),
        participant: None,
        by: None,
        waiting: None,
        locked_until: until.map(|s| rfc3339(unix(s))),
    }
}
