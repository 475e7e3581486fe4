//! What the outbox carries and where an invitation stands: the channel a survey goes over,
//! the kind of each message, and the state of an invitation. Each is stored as its
//! snake-case name (`email`, `opt_out`, `answered`) and read back through `TryFrom<String>`.

use super::ParseError;
use serde::{Deserialize, Serialize};

/// Implements `TryFrom<String>` through strum's `FromStr`, naming the value refused.
macro_rules! stored_name {
    ($ty:ty, $what:literal) => {
        impl TryFrom<String> for $ty {
            type Error = ParseError;
            fn try_from(name: String) -> Result<Self, ParseError> {
                name.parse()
                    .map_err(|_| ParseError(format!("`{name}` is not {}", $what)))
            }
        }
    };
}

/// The channels a survey can be sent over.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SurveyChannel {
    Email,
    Sms,
    Whatsapp,
}

stored_name!(SurveyChannel, "a survey channel (email, sms, whatsapp)");

impl SurveyChannel {
    pub const ALL: [SurveyChannel; 3] = [
        SurveyChannel::Email,
        SurveyChannel::Sms,
        SurveyChannel::Whatsapp,
    ];

    /// A channel as stored (`email`, `sms`, `whatsapp`).
    pub fn parse(name: &str) -> Option<SurveyChannel> {
        name.parse().ok()
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            SurveyChannel::Email => "email",
            SurveyChannel::Sms => "sms",
            SurveyChannel::Whatsapp => "whatsapp",
        }
    }
}

impl std::fmt::Display for SurveyChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a delivery goes: one of the survey channels, or the alert webhook (alerts also go
/// by email). Stored as `email`, `sms`, `whatsapp` or `webhook`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Survey(SurveyChannel),
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Survey(SurveyChannel::Email),
        Channel::Survey(SurveyChannel::Sms),
        Channel::Survey(SurveyChannel::Whatsapp),
        Channel::Webhook,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Survey(channel) => channel.as_str(),
            Channel::Webhook => "webhook",
        }
    }

    /// The survey channel, unless it is the webhook.
    pub fn survey(self) -> Option<SurveyChannel> {
        match self {
            Channel::Survey(channel) => Some(channel),
            Channel::Webhook => None,
        }
    }
}

impl From<SurveyChannel> for Channel {
    fn from(channel: SurveyChannel) -> Self {
        Channel::Survey(channel)
    }
}

impl TryFrom<String> for Channel {
    type Error = ParseError;
    fn try_from(name: String) -> Result<Self, ParseError> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| ParseError(format!("`{name}` is not a channel")))
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a delivery carries.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MessageKind {
    /// The invitation: the first message of a survey.
    Invite,
    /// A reminder of an invitation not answered yet.
    Reminder,
    /// The next question of a chat survey.
    Question,
    /// The same question again, after a reply that was no answer to it.
    Reask,
    /// Thanks, after the last question.
    Thanks,
    /// "This survey has closed": a reply after the invitation expired.
    Closed,
    /// The confirmation of an opt-out.
    OptOut,
    /// The confirmation of an opt-in.
    OptIn,
    /// A detractor alert, to a team lead or the alert webhook.
    Alert,
}

stored_name!(MessageKind, "a message kind");

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether it opens a conversation (an invitation or a reminder), rather than answering
    /// the customer within one.
    pub fn opens_conversation(self) -> bool {
        matches!(self, MessageKind::Invite | MessageKind::Reminder)
    }

    /// Whether it answers something the customer did (opted out or in, wrote after the
    /// survey closed), or is not for the customer at all (an alert).
    pub fn answers_customer(self) -> bool {
        matches!(
            self,
            MessageKind::OptOut | MessageKind::OptIn | MessageKind::Closed | MessageKind::Alert
        )
    }
}

/// Where an invitation stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum InvitationState {
    /// Waiting for its invitation to go out.
    Planned,
    /// The invitation went out; no answer yet.
    Sent,
    Answered,
    /// Its invitation could not be delivered on any channel.
    Failed,
    /// It expired unsent.
    Expired,
    /// Cancelled before it went out (the customer opted out, or was forgotten).
    Cancelled,
}

stored_name!(InvitationState, "an invitation state");

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a chat channel carries a survey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    /// The invitation asks the first question, and each reply brings the next: for channels
    /// whose replies come back.
    #[default]
    Conversation,
    /// The invitation and its reminders carry the survey page's link: for one-way channels
    /// (SMS to countries without two-way SMS, a gateway that cannot receive).
    Link,
}

/// What interpreting a stored webhook event did, as the inbox records it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::Display, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum InboxOutcome {
    /// A delivery status recorded.
    Status,
    /// A failure recorded: an invitation that never arrived moves to the next channel.
    StatusFailed,
    /// The delivery already had this status or a later one.
    StatusStale,
    /// No delivery carries that provider message id yet: the status is parked, and applied
    /// once the send that it reports is recorded (a provider may call back before that).
    StatusParked,
    /// A failure for a passing reason (a full queue, a rate limit): the message goes again.
    StatusRetry,
    /// No delivery carries that provider message id, still after it was parked a while.
    StatusUnknown,
    /// An answer to the question asked.
    Answer,
    /// No answer to the question: it is asked again.
    Reask,
    /// Words that answered nothing, asked twice: kept as the comment.
    Comment,
    /// Likewise, cut to the comment question's length.
    CommentCut,
    OptOut,
    OptIn,
    /// A message from someone with no invitation to answer.
    NoInvitation,
    /// A message in a group chat: no survey's answer.
    GroupChat,
    /// A reply after the invitation expired: told the survey has closed.
    AfterExpiry,
    /// A reply after the last question was answered.
    AfterLastQuestion,
    /// A well-formed event surveyd does not act on.
    Ignored,
}

impl InboxOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn names_round_trip_and_strangers_are_named() {
        for kind in MessageKind::iter() {
            assert_eq!(MessageKind::try_from(kind.to_string()), Ok(kind));
        }
        assert_eq!(MessageKind::OptOut.as_str(), "opt_out");
        assert_eq!(
            MessageKind::try_from("optout".to_owned()).unwrap_err().0,
            "`optout` is not a message kind"
        );
        assert_eq!(
            SurveyChannel::parse("whatsapp"),
            Some(SurveyChannel::Whatsapp)
        );
        assert_eq!(SurveyChannel::parse("WhatsApp"), None);
        for channel in Channel::ALL {
            assert_eq!(Channel::try_from(channel.to_string()), Ok(channel));
        }
        assert_eq!(
            InvitationState::try_from("answered".to_owned()),
            Ok(InvitationState::Answered)
        );
        // The names the inbox and the metrics have always used.
        assert_eq!(InboxOutcome::CommentCut.as_str(), "comment_cut");
        assert_eq!(
            InboxOutcome::AfterLastQuestion.to_string(),
            "after_last_question"
        );
        assert_eq!(InboxOutcome::StatusFailed.as_str(), "status_failed");
        assert!(MessageKind::Reminder.opens_conversation());
        assert!(
            !MessageKind::Thanks.opens_conversation() && !MessageKind::Thanks.answers_customer()
        );
    }
}
