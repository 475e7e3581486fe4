//! Sending without sending: everything due on a channel recorded sent, as a dispatcher
//! records it (for tests and benchmarks that need invitations out before replies come in).

use surveyd::store::{Outcome, Store};

/// Claims every delivery due on `channel` at `now` and records each sent then, with a
/// provider message id `SMout{delivery id}`.
pub async fn record_all_sent(store: &Store, channel: &str, now: chrono::DateTime<chrono::Utc>) {
    let lease = now + chrono::Duration::minutes(5);
    loop {
        let claimed = store
            .claim_due(channel, "test", now, lease, 5_000)
            .await
            .unwrap();
        if claimed.is_empty() {
            return;
        }
        let sent: Vec<Outcome> = claimed
            .iter()
            .map(|c| Outcome::Sent {
                delivery_id: c.delivery_id,
                invitation_id: c.invitation_id,
                message_id: format!("SMout{}", c.delivery_id),
                follow_up: Default::default(),
            })
            .collect();
        store.record_outcomes("test", now, &sent).await.unwrap();
    }
}
