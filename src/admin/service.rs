//! The admin operations, one place for the HTTP API, the web pages and the CLI: each
//! directory change plus its side effects (PIN e-mail, meeting start) and nothing twice.

use std::sync::Arc;

use serde::Serialize;

use super::live::{ActionRefused, LiveAnswer, Meeting, MeetingAction};
use crate::auth::pin::{Pin, PinPolicy};
use crate::call::Conference;
use crate::directory::{
    Actor, Directory, DirectoryError, NewOrganizer, Organizer, OrganizerUpdate,
    RESET_LINK_VALIDITY_SECS, Settings, SettingsChange,
};
use crate::notify::{self, DialIn, Mail, MailKind, Mailer, PinReason};
use crate::store::AuditRecord;

/// What happened to the e-mail an action would send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MailOutcome {
    /// Queued for delivery; `ticket` tracks it (`GET /api/mail/{ticket}`).
    Queued {
        /// Delivery ticket.
        ticket: u64,
        /// Where it goes.
        to: String,
    },
    /// Automatic e-mails are switched off: the admin passes the PIN on by hand.
    AutoEmailOff,
    /// This action sends no e-mail.
    None,
}

/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// From the directory (validation errors name their field).
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The organizer is disabled, so their meeting cannot be started.
    #[error("organizer {id} is disabled: enable them before starting their meeting")]
    Disabled {
        /// Organizer id.
        id: i64,
    },
    /// Meetings can only be started, seen or steered by a running bridge.
    #[error("meetings can only be started, seen or steered while the bridge is serving calls")]
    NoMedia,
    /// A meeting control was refused (nothing changed).
    #[error(transparent)]
    Meeting(#[from] ActionRefused),
}

impl AdminError {
    /// The request field an input error is about, for `400/422` answers.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AdminError::Directory(e) => match e {
                DirectoryError::NameEmpty
                | DirectoryError::NameTooLong { .. }
                | DirectoryError::NameControlChars => Some("name"),
                DirectoryError::EmailTooLong { .. } | DirectoryError::EmailInvalid => Some("email"),
                DirectoryError::EmailOverrideInvalid => Some("email_override"),
                DirectoryError::Pin(crate::auth::pin::PinError::PolicyLength { .. }) => {
                    Some("pin_length")
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// True when the organizer does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            AdminError::Directory(DirectoryError::OrganizerNotFound { .. })
                | AdminError::Meeting(
                    ActionRefused::MeetingNotFound { .. }
                        | ActionRefused::ParticipantNotFound { .. }
                )
        )
    }
}

/// What the admin service asks of the running bridge's meetings, which the media workers own.
/// A trait, so the service (also used by the CLI, where no bridge runs) does not depend on
/// the process shells that implement it.
pub trait LiveMeetings: Send + Sync {
    /// Starts a conference's meeting as if its organizer had joined: the lobby moves in, and
    /// callers who come later go straight in.
    fn start_meeting(&self, conference: Conference);

    /// Every meeting and lobby now, ordered by conference ID.
    fn meetings(&self) -> LiveAnswer<Vec<Meeting>>;

    /// One meeting or lobby, if there is one with this conference ID now.
    fn meeting(&self, conference_id: &str) -> LiveAnswer<Option<Meeting>>;

    /// Carries out an operator's control; answers the meeting as it is afterwards.
    fn control(
        &self,
        conference_id: &str,
        action: MeetingAction,
    ) -> LiveAnswer<Result<Meeting, ActionRefused>>;
}

/// The admin service; cheap to clone.
#[derive(Clone)]
pub struct AdminService {
    directory: Directory,
    mailer: Mailer,
    media: Option<Arc<dyn LiveMeetings>>,
    dial_in: Arc<DialIn>,
    public_url: Arc<str>,
    reset_limits: Arc<std::sync::Mutex<ResetLimits>>,
}

/// Self-service reset-link limits: per e-mail address and per source address.
#[derive(Debug)]
struct ResetLimits {
    per_address: super::limit::WindowLimiter,
    per_source: super::limit::WindowLimiter,
}

impl Default for ResetLimits {
    fn default() -> Self {
        let window = std::time::Duration::from_secs(15 * 60);
        ResetLimits {
            per_address: super::limit::WindowLimiter::new(3, window, 10_000),
            per_source: super::limit::WindowLimiter::new(10, window, 10_000),
        }
    }
}

impl AdminService {
    /// Joins the directory with the mailer and (when serving calls) the media workers.
    pub fn new(
        directory: Directory,
        mailer: Mailer,
        media: Option<Arc<dyn LiveMeetings>>,
        dial_in: DialIn,
        public_url: &str,
    ) -> Self {
        AdminService {
            directory,
            mailer,
            media,
            dial_in: Arc::new(dial_in),
            public_url: Arc::from(public_url.trim_end_matches('/')),
            reset_limits: Arc::default(),
        }
    }

    /// The directory underneath.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Where users reach the web pages (e-mail links).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The mailer (delivery statuses).
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Every organizer.
    pub async fn organizers(&self) -> Result<Vec<Organizer>, AdminError> {
        Ok(self.directory.organizers().await?)
    }

    /// One organizer.
    pub async fn organizer(&self, id: i64) -> Result<Organizer, AdminError> {
        Ok(self.directory.organizer(id).await?)
    }

    async fn pin_mail(&self, org: &Organizer, pin: &Pin, reason: PinReason) -> MailOutcome {
        match self.directory.settings().await {
            Ok(s) if !s.auto_email => return MailOutcome::AutoEmailOff,
            Ok(_) => {}
            Err(err) => {
                tracing::error!(error = %err, "reading settings for a PIN mail; sending it");
            }
        }
        let (subject, body) = notify::pin_notice(
            &org.name,
            pin.as_digits(),
            &org.conference_id,
            &self.dial_in,
            reason,
        );
        self.send(org, subject, body, MailKind::PinNotice)
    }

    fn send(&self, org: &Organizer, subject: String, body: String, kind: MailKind) -> MailOutcome {
        let to = org.mail_address().to_string();
        let ticket = self.mailer.send(Mail {
            to: to.clone(),
            subject,
            text_body: body,
            kind,
            organizer_id: Some(org.id),
        });
        MailOutcome::Queued {
            ticket: ticket.0,
            to,
        }
    }

    /// Creates an organizer; enabled ones get a PIN (returned once) and the PIN e-mail.
    pub async fn create(
        &self,
        actor: &Actor,
        new: &NewOrganizer,
    ) -> Result<(Organizer, Option<Pin>, MailOutcome), AdminError> {
        let (org, pin) = self.directory.create_organizer(actor, new).await?;
        let mail = match &pin {
            Some(pin) => self.pin_mail(&org, pin, PinReason::Enabled).await,
            None => MailOutcome::None,
        };
        Ok((org, pin, mail))
    }

    /// Changes names, addresses or the start rule.
    pub async fn update(
        &self,
        actor: &Actor,
        id: i64,
        update: &OrganizerUpdate,
    ) -> Result<Organizer, AdminError> {
        Ok(self.directory.update_organizer(actor, id, update).await?)
    }

    /// Enables an organizer with a new PIN (returned once) and sends the PIN e-mail.
    pub async fn enable(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(Organizer, Pin, MailOutcome), AdminError> {
        let (org, pin) = self.directory.enable(actor, id).await?;
        let mail = self.pin_mail(&org, &pin, PinReason::Enabled).await;
        Ok((org, pin, mail))
    }

    /// Disables an organizer: their conference ID and PIN stop working at once.
    pub async fn disable(&self, actor: &Actor, id: i64) -> Result<Organizer, AdminError> {
        self.directory
            .set_organizer_enabled(actor, id, false)
            .await?;
        Ok(self.directory.organizer(id).await?)
    }

    /// Deletes an organizer.
    pub async fn delete(&self, actor: &Actor, id: i64) -> Result<(), AdminError> {
        Ok(self.directory.delete_organizer(actor, id).await?)
    }

    /// A new random PIN (returned once, e-mailed); the old one stops working at once.
    pub async fn reset_pin(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(Organizer, Pin, MailOutcome), AdminError> {
        let pin = self.directory.reset_pin(actor, id).await?;
        let org = self.directory.organizer(id).await?;
        let mail = self.pin_mail(&org, &pin, PinReason::AdminReset).await;
        Ok((org, pin, mail))
    }

    /// A new random conference ID; the organizer is told by e-mail.
    pub async fn reset_conference_id(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(Organizer, MailOutcome), AdminError> {
        let org = self.directory.reset_conference_id(actor, id).await?;
        let (subject, body) =
            notify::conference_id_changed(&org.name, &org.conference_id, &self.dial_in);
        let mail = self.send(&org, subject, body, MailKind::ConferenceIdChanged);
        Ok((org, mail))
    }

    /// Starts an organizer's meeting as if they had joined with their PIN: the lobby moves in.
    pub async fn start_meeting(&self, actor: &Actor, id: i64) -> Result<Organizer, AdminError> {
        let org = self.directory.organizer(id).await?;
        if !org.enabled {
            return Err(AdminError::Disabled { id });
        }
        let media = self.media.as_ref().ok_or(AdminError::NoMedia)?;
        let conference = Conference {
            organizer_id: org.id,
            conference_id: org.conference_id.clone(),
            organizer_name: org.name.clone(),
            start_without_pin: org.start_without_pin,
        };
        media.start_meeting(conference);
        self.directory
            .record(actor, "meeting.start", Some(id), &org.conference_id)
            .await;
        Ok(org)
    }

    /// Every running meeting and waiting lobby.
    pub async fn meetings(&self) -> Result<Vec<Meeting>, AdminError> {
        let media = self.media.as_ref().ok_or(AdminError::NoMedia)?;
        Ok(media.meetings().await)
    }

    /// One running meeting or waiting lobby.
    pub async fn meeting(&self, conference_id: &str) -> Result<Meeting, AdminError> {
        let media = self.media.as_ref().ok_or(AdminError::NoMedia)?;
        media.meeting(conference_id).await.ok_or_else(|| {
            ActionRefused::MeetingNotFound {
                conference_id: conference_id.to_string(),
            }
            .into()
        })
    }

    /// An operator's control of a running meeting, written to the audit log once done.
    pub async fn control_meeting(
        &self,
        actor: &Actor,
        conference_id: &str,
        action: MeetingAction,
    ) -> Result<Meeting, AdminError> {
        let media = self.media.as_ref().ok_or(AdminError::NoMedia)?;
        let meeting = media.control(conference_id, action).await?;
        let detail = match action.participant() {
            Some(id) => format!("conference {conference_id} participant {id}"),
            None => format!("conference {conference_id}"),
        };
        self.directory
            .record(actor, action.audit_name(), meeting.organizer_id, &detail)
            .await;
        Ok(meeting)
    }

    /// The organization-wide settings.
    pub async fn settings(&self) -> Result<Settings, AdminError> {
        Ok(self.directory.settings().await?)
    }

    /// Changes settings (a bad PIN length changes nothing).
    pub async fn update_settings(
        &self,
        actor: &Actor,
        pin_length: Option<u8>,
        auto_email: Option<bool>,
        anonymous_start: Option<bool>,
    ) -> Result<Settings, AdminError> {
        let pin_length = pin_length
            .map(PinPolicy::new)
            .transpose()
            .map_err(DirectoryError::Pin)?;
        let change = SettingsChange {
            pin_length,
            auto_email,
            anonymous_start,
        };
        Ok(self.directory.update_settings(actor, &change).await?)
    }

    /// Newest audit entries.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRecord>, AdminError> {
        Ok(self.directory.audit_log(limit).await?)
    }

    /// Sends self-service reset links to the organizers with this address. The caller
    /// answers the same whatever happens here, so nobody learns which addresses exist.
    /// At most 3 links per address and 10 requests per source address in 15 minutes; past
    /// that nothing is sent, and the answer stays the same.
    pub async fn request_reset_link(&self, source: &str, email: &str) {
        let actor = Actor {
            who: "self-service".into(),
            source: source.to_string(),
        };
        let ip = source.rsplit(' ').next().unwrap_or(source);
        let allowed = {
            let now = std::time::Instant::now();
            let mut limits = self
                .reset_limits
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let by_source = limits.per_source.allow(ip, now);
            by_source && limits.per_address.allow(&email.trim().to_lowercase(), now)
        };
        if !allowed {
            tracing::info!(
                source,
                "self-service reset-link request over the limit: nothing sent"
            );
            self.directory
                .record(&actor, "self_service.limited", None, "")
                .await;
            return;
        }
        let issued = match self.directory.issue_reset_tokens(&actor, email).await {
            Ok(issued) => issued,
            Err(err) => {
                tracing::error!(error = %err, "issuing a reset link failed");
                return;
            }
        };
        for (org, token) in issued {
            let url = format!("{}/self-service/reset?token={token}", self.public_url);
            let (subject, body) =
                notify::reset_link(&org.name, &url, (RESET_LINK_VALIDITY_SECS / 60) as u32);
            self.send(&org, subject, body, MailKind::ResetLink);
        }
    }

    /// The organizer a reset link is for, if it is still valid.
    pub async fn reset_link_organizer(&self, token: &str) -> Result<Option<Organizer>, AdminError> {
        Ok(self.directory.reset_token_organizer(token).await?)
    }

    /// Uses a reset link: a new PIN (returned once) and its e-mail.
    pub async fn redeem_reset_link(
        &self,
        source: &str,
        token: &str,
    ) -> Result<Option<(Organizer, Pin, MailOutcome)>, AdminError> {
        let Some((org, pin)) = self.directory.redeem_reset_token(source, token).await? else {
            return Ok(None);
        };
        let mail = self.pin_mail(&org, &pin, PinReason::SelfServiceReset).await;
        Ok(Some((org, pin, mail)))
    }
}
