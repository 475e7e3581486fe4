//! Dashboard sessions: the cookie holds 256 random bits; the database keeps only their
//! SHA-256 with the account, the expiry and whether the session was ended, so signing out (or
//! `surveyd dashboard end-sessions`) ends it on every daemon at once. A session also ends when
//! its account leaves `dashboard.users` or gets a new password hash. Forms carry a token
//! derived from the cookie against cross-site posts.

use crate::store::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::DashboardUser;

/// The session cookie's name.
pub const COOKIE: &str = "surveyd_session";

/// A signed-in person, and the token their forms carry.
pub struct Session {
    pub user: String,
    pub csrf: String,
    id_sha256: [u8; 32],
}

impl Session {
    /// Whether a form carrying `csrf` came from a page of this session.
    pub fn posted(&self, csrf: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf.as_bytes().ct_eq(csrf.as_bytes()).into()
    }

    /// Ends this session for every daemon.
    pub async fn end(&self, store: &Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        store.end_session(&self.id_sha256, now).await
    }
}

/// Stores a new session for `user` (signed in with the password `hash`) from `now`, lasting
/// `lifetime`; returns the cookie's value.
pub async fn open(
    store: &Store,
    user: &str,
    hash: &str,
    now: DateTime<Utc>,
    lifetime: std::time::Duration,
) -> Result<String, StoreError> {
    let bytes: [u8; 32] = rand::random();
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let lifetime = chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
    store
        .open_session(
            &Sha256::digest(value.as_bytes()).into(),
            user,
            &credential(hash),
            now,
            now.checked_add_signed(lifetime)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
        .await?;
    Ok(value)
}

/// What a session remembers of the password it was opened with.
fn credential(hash: &str) -> [u8; 32] {
    Sha256::digest(hash.as_bytes()).into()
}

/// The live session a cookie value stands for at `now`: stored, not ended, not expired, and
/// its account still one of `users` with the same password hash. Its forms' token is made
/// with `key`.
pub async fn find(
    store: &Store,
    users: &[DashboardUser],
    key: &[u8; 32],
    value: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let id_sha256: [u8; 32] = Sha256::digest(value.as_bytes()).into();
    let Some(stored) = store.session(&id_sha256).await? else {
        return Ok(None);
    };
    let configured = users.iter().any(|u| {
        u.name == stored.user_name && credential(u.password_hash.expose())[..] == stored.credential
    });
    if !configured || !stored.live(now) {
        return Ok(None);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"csrf\0");
    mac.update(value.as_bytes());
    Ok(Some(Session {
        user: stored.user_name,
        csrf: hex::encode(mac.finalize().into_bytes()),
        id_sha256,
    }))
}
