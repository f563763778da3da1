//! Which calls a run makes and when: an absolute, open-loop schedule fixed before the first
//! call starts, so a slow answer never delays the next call (wrk2's remedy for coordinated
//! omission).

use std::net::IpAddr;
use std::num::NonZeroU64;
use std::time::Duration;

/// A conference to call into, with the organizer's PIN when organizer calls use it.
#[derive(Clone, Debug)]
pub struct Conference {
    /// The conference ID typed after answering.
    pub id: String,
    /// The organizer PIN, typed after `*` by organizer calls.
    pub pin: Option<String>,
}

/// What a call does once answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Types `ID##` and waits in the lobby (and, in a meeting run, for the meeting).
    Attendee,
    /// Types `ID#*PIN#`, which starts the meeting.
    Organizer,
}

/// One planned call.
#[derive(Clone, Debug)]
pub struct CallSpec {
    /// Position in the plan (also names the call in Call-IDs).
    pub index: u64,
    /// When it should start, counted from the run's start.
    pub at: Duration,
    /// Index into the conference list (a meeting run gives each meeting its own).
    pub conference: usize,
    /// The meeting it belongs to, in a meeting run.
    pub meeting: Option<usize>,
    /// Attendee or organizer.
    pub role: Role,
    /// Whether its audio is checked (lobby audio required, histograms); an unchecked call
    /// only has to be answered, send its keys, hold and have its BYE answered.
    pub checked: bool,
}

/// Audio sampling: every `every`-th call (in schedule order) binds its RTP to `ip` and is
/// checked; the others bind to `--local-ip`, where a benchmark's firewall may drop their audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sampling {
    /// The address of the sampled calls' RTP sockets.
    pub ip: IpAddr,
    /// Call `i` is sampled when `i % every == 0`.
    pub every: NonZeroU64,
}

impl Sampling {
    /// Checks the `--sample-ip` / `--sample-every` pair: both or neither, `every` at least
    /// 1, and the sample address not `--local-ip`.
    pub fn new(
        ip: Option<IpAddr>,
        every: Option<u64>,
        local_ip: IpAddr,
    ) -> Result<Option<Sampling>, PlanError> {
        let (ip, every) = match (ip, every) {
            (None, None) => return Ok(None),
            (Some(ip), Some(every)) => (ip, every),
            (Some(_), None) => return Err(PlanError::SampleEveryMissing),
            (None, Some(_)) => return Err(PlanError::SampleIpMissing),
        };
        let every = NonZeroU64::new(every).ok_or(PlanError::SampleEveryZero)?;
        if ip == local_ip {
            return Err(PlanError::SampleIpIsLocalIp(ip));
        }
        Ok(Some(Sampling { ip, every }))
    }

    /// Whether the call at `index` in schedule order is sampled (checked).
    pub fn sampled(&self, index: u64) -> bool {
        index.is_multiple_of(self.every.get())
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No conference was given.
    #[error("no conference to call: pass --conference ID (or ID:PIN), or --conferences-file")]
    NoConference,
    /// The rate is not a positive number.
    #[error("--rate must be a positive number of calls per second, not {0}")]
    BadRate(f64),
    /// A meeting run needs PINs.
    #[error(
        "conference {0} has no PIN: a meeting run (--meeting N) needs ID:PIN for each conference"
    )]
    NoPin(String),
    /// Two meetings would share a conference: the first PIN would start both.
    #[error(
        "{meetings} meetings need {meetings} conferences (one each: the first PIN would start a shared one), but only {conferences} given; lower --rate or --duration, raise --meeting, or add conferences"
    )]
    TooFewConferences {
        /// Meetings planned.
        meetings: usize,
        /// Conferences given.
        conferences: usize,
    },
    /// A meeting needs an organizer and at least one attendee.
    #[error("--meeting must be at least 2 (an organizer and one attendee), not {0}")]
    MeetingTooSmall(usize),
    /// `--sample-ip` without `--sample-every`.
    #[error("--sample-ip needs --sample-every N (every N-th call is sampled)")]
    SampleEveryMissing,
    /// `--sample-every` without `--sample-ip`.
    #[error("--sample-every needs --sample-ip IP (the sampled calls' RTP address, not --local-ip)")]
    SampleIpMissing,
    /// `--sample-every 0`.
    #[error("--sample-every must be at least 1 (1 samples every call)")]
    SampleEveryZero,
    /// The sample address is the one unchecked calls use.
    #[error(
        "--sample-ip {0} is --local-ip too: sampled calls need an address of their own (say 127.0.0.3 with --local-ip 127.0.0.2)"
    )]
    SampleIpIsLocalIp(IpAddr),
}

/// The calls of one run, sorted by start time.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every call, in start order.
    pub calls: Vec<CallSpec>,
    /// How many meetings (0 in an attendee run).
    pub meetings: usize,
}

/// Builds the schedule: `rate × duration` attendee calls at `i / rate`, spread over the
/// conferences in turn; with `meeting = Some(n)`, every `n − 1` consecutive attendees form a
/// meeting whose organizer calls `organizer_delay` after its last attendee (late enough for
/// the attendees to be hearing hold music when the PIN arrives). Each meeting needs a
/// conference of its own.
pub fn build(
    rate: f64,
    duration: Duration,
    conferences: &[Conference],
    meeting: Option<usize>,
    organizer_delay: Duration,
) -> Result<Plan, PlanError> {
    if conferences.is_empty() {
        return Err(PlanError::NoConference);
    }
    if !(rate.is_finite() && rate > 0.0) {
        return Err(PlanError::BadRate(rate));
    }
    let attendees = ((rate * duration.as_secs_f64()).round() as u64).max(1);
    let at = |i: u64| Duration::from_secs_f64(i as f64 / rate);
    let mut calls = Vec::new();
    let mut meetings = 0;
    match meeting {
        None => {
            for i in 0..attendees {
                calls.push(CallSpec {
                    index: 0,
                    at: at(i),
                    conference: (i % conferences.len() as u64) as usize,
                    meeting: None,
                    role: Role::Attendee,
                    checked: true,
                });
            }
        }
        Some(size) => {
            if size < 2 {
                return Err(PlanError::MeetingTooSmall(size));
            }
            if let Some(c) = conferences.iter().find(|c| c.pin.is_none()) {
                return Err(PlanError::NoPin(c.id.clone()));
            }
            let per = (size - 1) as u64;
            meetings = attendees.div_ceil(per) as usize;
            if meetings > conferences.len() {
                return Err(PlanError::TooFewConferences {
                    meetings,
                    conferences: conferences.len(),
                });
            }
            for m in 0..meetings as u64 {
                let conference = (m % conferences.len() as u64) as usize;
                let first = m * per;
                let last = (first + per).min(attendees);
                for i in first..last {
                    calls.push(CallSpec {
                        index: 0,
                        at: at(i),
                        conference,
                        meeting: Some(m as usize),
                        role: Role::Attendee,
                        checked: true,
                    });
                }
                calls.push(CallSpec {
                    index: 0,
                    at: at(last.saturating_sub(1)) + organizer_delay,
                    conference,
                    meeting: Some(m as usize),
                    role: Role::Organizer,
                    checked: true,
                });
            }
        }
    }
    calls.sort_by_key(|c| c.at);
    for (i, c) in calls.iter_mut().enumerate() {
        c.index = i as u64;
    }
    Ok(Plan { calls, meetings })
}

impl Plan {
    /// Marks which calls are checked: with sampling, only those `Sampling::sampled` picks
    /// (by their index, i.e. in schedule order); without, every call.
    pub fn sample(&mut self, sampling: Option<&Sampling>) {
        for c in &mut self.calls {
            c.checked = sampling.is_none_or(|s| s.sampled(c.index));
        }
    }

    /// Calls whose audio is checked.
    pub fn checked(&self) -> usize {
        self.calls.iter().filter(|c| c.checked).count()
    }
}

/// Reads `ID` or `ID:PIN` (the form of `--conference` and of each line of a conferences file).
pub fn parse_conference(text: &str) -> Option<Conference> {
    let text = text.trim();
    let (id, pin) = match text.split_once([':', ',', ';']) {
        Some((id, pin)) => (id.trim(), Some(pin.trim())),
        None => (text, None),
    };
    let keys = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !keys(id) || pin.is_some_and(|p| !keys(p)) {
        return None;
    }
    Some(Conference {
        id: id.to_string(),
        pin: pin.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pin: Option<&str>) -> Vec<Conference> {
        vec![Conference {
            id: "123".into(),
            pin: pin.map(Into::into),
        }]
    }

    #[test]
    fn attendee_calls_start_on_an_absolute_schedule() {
        let p = build(
            10.0,
            Duration::from_secs(2),
            &conf(None),
            None,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(p.calls.len(), 20);
        assert_eq!(p.calls[3].at, Duration::from_millis(300));
    }

    #[test]
    fn a_meeting_run_adds_one_organizer_per_meeting_after_its_attendees() {
        let two = [conf(Some("55555")), conf(Some("66666"))].concat();
        let p = build(
            10.0,
            Duration::from_secs(1),
            &two,
            Some(6),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(p.meetings, 2);
        let orgs: Vec<_> = p
            .calls
            .iter()
            .filter(|c| c.role == Role::Organizer)
            .collect();
        assert_eq!(orgs.len(), 2);
        assert_eq!(orgs[0].at, Duration::from_millis(5400));
        assert!(
            build(
                1.0,
                Duration::from_secs(1),
                &conf(None),
                Some(3),
                Duration::ZERO
            )
            .is_err()
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn checked_indices(p: &Plan) -> Vec<u64> {
        p.calls
            .iter()
            .filter(|c| c.checked)
            .map(|c| c.index)
            .collect()
    }

    #[test]
    fn sampling_checks_every_nth_call_in_schedule_order() {
        let mut p = build(
            10.0,
            Duration::from_secs(2),
            &conf(None),
            None,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(p.checked(), 20, "no sampling: every call is checked");
        let s = Sampling::new(Some(ip("127.0.0.3")), Some(3), ip("127.0.0.2"))
            .unwrap()
            .unwrap();
        p.sample(Some(&s));
        let checked = checked_indices(&p);
        assert_eq!(checked, [0, 3, 6, 9, 12, 15, 18]);
        assert_eq!(p.checked(), 7);
        let every = Sampling::new(Some(ip("127.0.0.3")), Some(1), ip("127.0.0.2"))
            .unwrap()
            .unwrap();
        p.sample(Some(&every));
        assert_eq!(p.checked(), 20);
        p.sample(None);
        assert_eq!(p.checked(), 20);
    }

    #[test]
    fn sampling_flags_are_validated() {
        let (local, other) = (ip("127.0.0.2"), ip("127.0.0.3"));
        assert_eq!(Sampling::new(None, None, local).unwrap(), None);
        assert!(matches!(
            Sampling::new(Some(other), None, local),
            Err(PlanError::SampleEveryMissing)
        ));
        assert!(matches!(
            Sampling::new(None, Some(10), local),
            Err(PlanError::SampleIpMissing)
        ));
        assert!(matches!(
            Sampling::new(Some(other), Some(0), local),
            Err(PlanError::SampleEveryZero)
        ));
        assert!(matches!(
            Sampling::new(Some(local), Some(10), local),
            Err(PlanError::SampleIpIsLocalIp(_))
        ));
    }

    #[test]
    fn a_meeting_run_samples_its_calls_in_schedule_order_too() {
        let conferences: Vec<Conference> = (0..10)
            .map(|i| Conference {
                id: format!("{i}"),
                pin: Some("12345".into()),
            })
            .collect();
        let mut p = build(
            10.0,
            Duration::from_secs(4),
            &conferences,
            Some(5),
            Duration::from_secs(1),
        )
        .unwrap();
        let s = Sampling::new(Some(ip("127.0.0.3")), Some(4), ip("127.0.0.2"))
            .unwrap()
            .unwrap();
        p.sample(Some(&s));
        let checked = checked_indices(&p);
        assert_eq!(checked, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48]);
        assert!(
            p.calls
                .iter()
                .any(|c| c.checked && c.role == Role::Attendee && c.meeting.is_some()),
            "meeting attendees are among the sampled calls"
        );
    }

    #[test]
    fn conferences_parse_with_or_without_a_pin() {
        assert_eq!(
            parse_conference("123:45").unwrap().pin.as_deref(),
            Some("45")
        );
        assert!(parse_conference("12a").is_none());
        assert!(parse_conference("").is_none());
    }
}
