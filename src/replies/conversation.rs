//! What surveyd does with a decoded callback: a delivery status moves its delivery forward;
//! a message is an opt-out or opt-in keyword, or an answer to the question its invitation
//! asked last — recorded, followed by the next question or the thanks — or, when it is no
//! answer, met with the question once more and then kept as a comment. It works inside the
//! caller's transaction, so an event's effects land with its inbox record.

use super::parse::{self, Keyword};
use super::{Inbound, InboundMessage, StatusReport};
use crate::campaign::Campaign;
use crate::dispatch::{DispatchSettings, backoff};
use crate::domain::{InboxOutcome, MessageKind, Phone, SurveyChannel, storable};
use crate::questionnaire::{Answer, QuestionKind, Questionnaire};
use crate::store::{ChatAnswer, Conversation, StatusApplied, StoreError, StoreTx};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// Why an event could not be interpreted (it stays in the inbox with this text).
#[derive(Debug, thiserror::Error)]
pub enum InterpretError {
    /// The event cannot be acted on (an unreadable sender, a questionnaire no longer
    /// configured). Always raised before anything is written, so the event's transaction
    /// can go on.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Interprets decoded callbacks against the store.
#[derive(Clone)]
pub struct Interpreter {
    pub questionnaires: Arc<HashMap<String, Questionnaire>>,
    /// The campaigns by name: where an undeliverable invitation moves next.
    pub campaigns: Arc<HashMap<String, Campaign>>,
    /// Numbers written without a country code are read in this country.
    pub country: phonenumber::country::Id,
    /// Which answers raise a detractor alert.
    pub alerts: Arc<crate::alerts::AlertRule>,
    /// The attempts and backoff of a message a provider failed for a passing reason.
    pub retries: DispatchSettings,
}

impl Interpreter {
    /// The interpreter of `campaigns` (by name) and their `questionnaires`, reading numbers in
    /// `defaults.country`, raising alerts by `alerts` and sending again as `retries` say.
    pub fn new(
        questionnaires: Arc<HashMap<String, Questionnaire>>,
        campaigns: Arc<HashMap<String, Campaign>>,
        defaults: &crate::domain::Defaults,
        alerts: Arc<crate::alerts::AlertRule>,
        retries: &DispatchSettings,
    ) -> Self {
        Interpreter {
            questionnaires,
            campaigns,
            country: defaults.country.0,
            alerts,
            retries: retries.clone(),
        }
    }

    /// Interprets one callback at `now` in transaction `tx`; returns what it did (stored as
    /// the inbox outcome).
    pub async fn interpret(
        &self,
        tx: &mut StoreTx,
        inbound: &Inbound,
        now: DateTime<Utc>,
    ) -> Result<InboxOutcome, InterpretError> {
        match inbound {
            Inbound::Status(report) => self.status(tx, report, now).await,
            Inbound::Message(message) => self.message(tx, message, now).await,
            Inbound::GroupChat => Ok(InboxOutcome::GroupChat),
        }
    }

    async fn status(
        &self,
        tx: &mut StoreTx,
        report: &StatusReport,
        now: DateTime<Utc>,
    ) -> Result<InboxOutcome, InterpretError> {
        let applied = tx
            .apply_status(
                &report.message_id,
                report.status,
                report.error.as_deref(),
                now,
            )
            .await?;
        Ok(match applied {
            StatusApplied::Recorded {
                delivery_id,
                attempts,
                ..
            } if report.status.is_failure()
                && report.passing
                && attempts < self.retries.max_attempts =>
            {
                // Accepted, then failed for a passing reason: the same message goes again.
                let due_at = now + backoff(&self.retries, attempts);
                tx.send_again(delivery_id, due_at, now).await?;
                InboxOutcome::StatusRetry
            }
            StatusApplied::Recorded {
                invitation_id,
                kind,
                campaign,
                channel,
                ..
            } if report.status.is_failure() => {
                // An invitation that never arrived moves on to the campaign's next channel.
                let remaining = match (kind, self.campaigns.get(&campaign)) {
                    (MessageKind::Invite, Some(campaign)) => campaign.after(channel),
                    _ => Vec::new(),
                };
                if kind == MessageKind::Invite {
                    tx.undeliverable(invitation_id, &remaining, now).await?;
                }
                InboxOutcome::StatusFailed
            }
            StatusApplied::Recorded { .. } => InboxOutcome::Status,
            StatusApplied::Stale => InboxOutcome::StatusStale,
            StatusApplied::Unknown => InboxOutcome::StatusUnknown,
        })
    }

    async fn message(
        &self,
        tx: &mut StoreTx,
        m: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<InboxOutcome, InterpretError> {
        let phone = match m
            .from
            .as_deref()
            .map(|from| Phone::parse_in(from, self.country))
        {
            Some(Ok(phone)) => Some(phone),
            Some(Err(e)) if m.reply_to.is_none() => {
                return Err(InterpretError::Invalid(format!("sender: {e}")));
            }
            _ => None,
        };
        let number = phone.as_ref().map(Phone::as_str);
        let conversation = tx
            .conversation_for(m.channel, number, m.reply_to.as_deref())
            .await?;
        if let Some(keyword) = parse::keyword(&m.text) {
            return self
                .keyword(tx, keyword, m.channel, number, conversation.as_ref(), now)
                .await;
        }
        let Some(conversation) = conversation else {
            return Ok(InboxOutcome::NoInvitation);
        };
        if conversation.expires_at.is_some_and(|at| at <= now) {
            tx.queue_reply(&conversation, MessageKind::Closed, now)
                .await?;
            return Ok(InboxOutcome::AfterExpiry);
        }
        let questionnaire = self
            .questionnaires
            .get(&conversation.questionnaire)
            .ok_or_else(|| {
                InterpretError::Invalid(format!(
                    "questionnaire `{}` is not configured",
                    conversation.questionnaire
                ))
            })?;
        // Before the first answer the invitation asked the first question.
        let asked = match (&conversation.question, conversation.answered_at) {
            (Some(id), _) => id.clone(),
            (None, None) => questionnaire
                .questions
                .first()
                .map(|q| q.id.clone())
                .unwrap_or_default(),
            (None, Some(_)) => return Ok(InboxOutcome::AfterLastQuestion),
        };
        let position = questionnaire
            .questions
            .iter()
            .position(|q| q.id == asked)
            .ok_or_else(|| {
                InterpretError::Invalid(format!(
                    "question `{asked}` is not in `{}`",
                    questionnaire.name
                ))
            })?;
        let question = &questionnaire.questions[position];
        let (answer, outcome) = match parse::answer(question, &m.text) {
            Ok(answer) => (answer.map(|a| (question, a)), InboxOutcome::Answer),
            Err(_) if !conversation.reasked => {
                tx.reask(&conversation, &asked, now).await?;
                return Ok(InboxOutcome::Reask);
            }
            // Asked twice: the words are kept as the comment, and the survey goes on.
            Err(_) => match comment_question(questionnaire) {
                Some((q, max_length)) => {
                    let (text, cut) = cut_to(storable(m.text.trim()), max_length);
                    let outcome = if cut {
                        InboxOutcome::CommentCut
                    } else {
                        InboxOutcome::Comment
                    };
                    (Some((q, Answer::Text(text))), outcome)
                }
                None => (None, InboxOutcome::Comment),
            },
        };
        let stored = answer.as_ref().map(|(q, a)| ChatAnswer {
            question: &q.id,
            metric: q.metric.as_ref().map(AsRef::as_ref),
            number: match a {
                Answer::Number(n) => Some(*n),
                Answer::Text(_) => None,
            },
            text: match a {
                Answer::Text(t) => Some(t.as_str()),
                Answer::Number(_) => None,
            },
        });
        // The next question is the one after the asked one, passing over a comment question
        // the free words just filled.
        let filled = answer.as_ref().map(|(q, _)| q.id.as_str());
        let next = questionnaire.questions[position + 1..]
            .iter()
            .map(|q| q.id.as_str())
            .find(|id| Some(*id) != filled);
        if tx
            .record_chat_answer(&conversation, stored, next, now, &*self.alerts)
            .await?
        {
            Ok(outcome)
        } else {
            tx.queue_reply(&conversation, MessageKind::Closed, now)
                .await?;
            Ok(InboxOutcome::AfterExpiry)
        }
    }

    async fn keyword(
        &self,
        tx: &mut StoreTx,
        keyword: Keyword,
        channel: SurveyChannel,
        number: Option<&str>,
        conversation: Option<&Conversation>,
        now: DateTime<Utc>,
    ) -> Result<InboxOutcome, InterpretError> {
        let number =
            number.ok_or_else(|| InterpretError::Invalid("a keyword from no number".into()))?;
        let opt_out = keyword == Keyword::OptOut;
        tx.set_number_opt_out(channel, number, opt_out, "reply", now)
            .await?;
        let (kind, outcome) = if opt_out {
            (MessageKind::OptOut, InboxOutcome::OptOut)
        } else {
            (MessageKind::OptIn, InboxOutcome::OptIn)
        };
        if let Some(conversation) = conversation {
            tx.queue_reply(conversation, kind, now).await?;
        }
        Ok(outcome)
    }
}

/// The question free words are kept under when they answer nothing: the questionnaire's
/// first text question, with its `max_length`.
fn comment_question(
    questionnaire: &Questionnaire,
) -> Option<(&crate::questionnaire::Question, usize)> {
    questionnaire.questions.iter().find_map(|q| match q.kind {
        QuestionKind::Text { max_length } => Some((q, max_length)),
        _ => None,
    })
}

/// `text`'s first `max_length` characters, and whether anything was cut off.
fn cut_to(text: std::borrow::Cow<'_, str>, max_length: usize) -> (String, bool) {
    match text.char_indices().nth(max_length) {
        Some((end, _)) => (text[..end].to_owned(), true),
        None => (text.into_owned(), false),
    }
}
