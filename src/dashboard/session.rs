//! Dashboard sessions: the cookie holds 256 random bits; the database keeps only their
//! SHA-256 with the account, the expiry and whether the session was ended, so signing out (or
//! `surveyd dashboard end-sessions`) ends it on every daemon at once. A session also ends when
//! its account leaves `dashboard.users` or gets a new password hash. Forms carry a token
//! derived from the cookie against cross-site posts.

use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Redirect;
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "surveyd_session";

/// A signed-in person, and the token their forms carry.
pub struct Session {
    pub user: String,
    pub csrf: String,
    id_sha256: [u8; 32],
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Redirect> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(value) = jar.get(COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/dashboard/login"));
        };
        match session_of(state, &value).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(Redirect::to("/dashboard/login")),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the dashboard session");
                Err(Redirect::to("/dashboard/login"))
            }
        }
    }
}

impl Session {
    /// Whether a form carrying `csrf` came from a page of this session.
    pub fn posted(&self, csrf: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf.as_bytes().ct_eq(csrf.as_bytes()).into()
    }

    /// Ends this session for every daemon.
    pub async fn end(&self, state: &AppState) -> Result<(), crate::store::StoreError> {
        state
            .store
            .end_session(&self.id_sha256, state.clock.now())
            .await
    }
}

/// Stores a new session for `user` (signed in with the password `hash`) lasting
/// `dashboard.session`; returns the cookie's value.
pub async fn open(
    state: &AppState,
    user: &str,
    hash: &str,
) -> Result<String, crate::store::StoreError> {
    let bytes: [u8; 32] = rand::random();
    let value = URL_SAFE_NO_PAD.encode(bytes);
    let now = state.clock.now();
    let lifetime = chrono::Duration::from_std(state.settings.dashboard.session)
        .unwrap_or(chrono::Duration::MAX);
    state
        .store
        .open_session(
            &Sha256::digest(value.as_bytes()).into(),
            user,
            &credential(hash),
            now,
            now.checked_add_signed(lifetime)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        )
        .await?;
    Ok(value)
}

/// What a session remembers of the password it was opened with.
fn credential(hash: &str) -> [u8; 32] {
    Sha256::digest(hash.as_bytes()).into()
}

/// The live session a cookie value stands for: stored, not ended, not expired, and its
/// account still configured with the same password hash.
async fn session_of(
    state: &AppState,
    value: &str,
) -> Result<Option<Session>, crate::store::StoreError> {
    let id_sha256: [u8; 32] = Sha256::digest(value.as_bytes()).into();
    let Some(stored) = state.store.session(&id_sha256).await? else {
        return Ok(None);
    };
    let configured = state.settings.dashboard.users.iter().any(|u| {
        u.name == stored.user_name && credential(u.password_hash.expose())[..] == stored.credential
    });
    if !configured || !stored.live(state.clock.now()) {
        return Ok(None);
    }
    let key = state.survey_key.derive("dashboard session");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(b"csrf\0");
    mac.update(value.as_bytes());
    Ok(Some(Session {
        user: stored.user_name,
        csrf: hex::encode(mac.finalize().into_bytes()),
        id_sha256,
    }))
}
