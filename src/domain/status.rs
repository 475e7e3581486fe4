//! What a provider reports of a message it was given.

/// A message's state at the provider. States only move forward: a late `delivered` never
/// replaces `read`; a failure is final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::AsRefStr, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum ProviderStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    Undelivered,
}

impl ProviderStatus {
    /// The order states move in; the two failures are both final.
    pub fn rank(self) -> u8 {
        match self {
            ProviderStatus::Sent => 1,
            ProviderStatus::Delivered => 2,
            ProviderStatus::Read => 3,
            ProviderStatus::Failed | ProviderStatus::Undelivered => 4,
        }
    }

    /// The message did not reach the customer: the invitation moves to its next channel.
    pub fn is_failure(self) -> bool {
        self.rank() == 4
    }
}
