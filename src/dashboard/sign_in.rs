//! Checking a dashboard password, within bounds: at most `dashboard.sign_in.concurrency`
//! Argon2id checks run at once in a daemon (a sign-in that gets none within
//! `dashboard.sign_in.wait` is turned away with `429`), and an account locks for a growing
//! while after `lock_after` wrong passwords in a row, whatever addresses they came from. The
//! count and the lock are stored, so every daemon sharing the database honours them, and a
//! locked account is refused before any password work.

use super::SignInSettings;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The daemon's password checks: how many may run at once, and how long a sign-in waits.
pub struct Gate {
    checks: Arc<Semaphore>,
    wait: std::time::Duration,
}

impl Gate {
    pub fn new(settings: &SignInSettings) -> Gate {
        Gate {
            checks: Arc::new(Semaphore::new(settings.concurrency as usize)),
            wait: settings.wait,
        }
    }

    /// One of the checks, if one is free within the wait.
    pub async fn enter(&self) -> Option<Check> {
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.checks).acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(Check(Arc::new(permit)))
    }
}

/// A password check that may run now; the next waiting sign-in gets it when this is dropped
/// and the check it ran (if any) has finished.
pub struct Check(Arc<OwnedSemaphorePermit>);

impl Check {
    /// Whether `password` matches the PHC `hash`, checked in a blocking task that holds the
    /// check until it is done (even when the request is dropped).
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let permit = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false)
    }
}

/// How long an account stays locked after `failures` wrong passwords in a row: nothing before
/// `lock_after`, then `lock`, doubled by each further failure up to `lock_max`.
pub fn lock_for(settings: &SignInSettings, failures: u32) -> Option<chrono::Duration> {
    if settings.lock_after == 0 || failures < settings.lock_after {
        return None;
    }
    let doublings = (failures - settings.lock_after).min(31);
    let wait = settings
        .lock
        .checked_mul(1u32 << doublings)
        .map_or(settings.lock_max, |w| w.min(settings.lock_max));
    chrono::Duration::from_std(wait).ok()
}

/// The Argon2id hash of `password` in PHC form, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A hash that no password typed in matches, checked for unknown names so that they cost the
/// same work as a known name with a wrong password.
pub fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| hash_password("not a password anyone has").expect("hashing works"))
        .clone()
}

fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(lock_after: u32) -> SignInSettings {
        SignInSettings {
            concurrency: 1,
            wait: Duration::ZERO,
            lock_after,
            lock: Duration::from_secs(60),
            lock_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_lock_doubles_from_the_threshold_up_to_its_cap() {
        let minutes = |failures| lock_for(&settings(5), failures).map(|d| d.num_minutes());
        assert_eq!(minutes(4), None);
        assert_eq!(minutes(5), Some(1));
        assert_eq!(minutes(6), Some(2));
        assert_eq!(minutes(8), Some(8));
        assert_eq!(minutes(12), Some(60));
        assert_eq!(minutes(u32::MAX), Some(60));
        assert_eq!(lock_for(&settings(0), 100), None);
    }
}
