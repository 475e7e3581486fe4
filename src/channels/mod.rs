//! Channels: how a rendered message leaves surveyd. Each channel sends one message at a time
//! per sender, and says whether a failure is worth retrying.

pub mod email;

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the network, a timeout, a busy server (SMTP 4xx).
    #[error("{0}")]
    Transient(String),
    /// Will not work however often it is tried: a refused address, SMTP 5xx, bad settings.
    #[error("{0}")]
    Permanent(String),
}
