//! The dashboard's settings: its address, accounts and sign-in limits.

use crate::domain::{Problem, Secret};
use serde::{Deserialize, Serialize};

/// The dashboard at `/dashboard`: who may sign in, and for how long.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// The accounts, each with its password's Argon2id hash (`surveyd dashboard
    /// hash-password`); no accounts, no sign-in.
    pub users: Vec<DashboardUser>,
    /// How long a sign-in lasts.
    #[serde(with = "crate::domain::duration")]
    pub session: std::time::Duration,
    /// How many weeks the charts show.
    pub weeks: u32,
    /// How password checks are bounded.
    pub sign_in: SignInSettings,
}

/// Bounds on sign-in: password checks at once, and the lock after wrong passwords in a row.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    /// Argon2id checks running at once across all accounts (each holds about 19 MiB).
    pub concurrency: u32,
    /// How long a sign-in waits for a free check before it gets `429`.
    #[serde(with = "crate::domain::duration")]
    pub wait: std::time::Duration,
    /// Wrong passwords in a row that lock an account (0: never).
    pub lock_after: u32,
    /// The first lock; each further wrong password doubles it, up to `lock_max`.
    #[serde(with = "crate::domain::duration")]
    pub lock: std::time::Duration,
    /// The longest lock.
    #[serde(with = "crate::domain::duration")]
    pub lock_max: std::time::Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardUser {
    pub name: String,
    pub password_hash: Secret<String>,
}

impl DashboardSettings {
    pub fn check(&self) -> Result<(), Problem> {
        for (i, user) in self.users.iter().enumerate() {
            argon2::PasswordHash::new(user.password_hash.expose()).map_err(|e| {
                Problem::at(
                    format!("dashboard.users.{i}.password_hash"),
                    format!(
                        "the password hash of {} is not a PHC hash ({e}); make one with \
                         surveyd dashboard hash-password",
                        user.name
                    ),
                )
            })?;
        }
        if !(1..=104).contains(&self.weeks) {
            return Err(Problem::at("dashboard.weeks", "must be from 1 to 104"));
        }
        if self.sign_in.concurrency == 0 {
            return Err(Problem::at(
                "dashboard.sign_in.concurrency",
                "must be at least 1",
            ));
        }
        if self.sign_in.lock_max < self.sign_in.lock {
            return Err(Problem::at(
                "dashboard.sign_in.lock_max",
                "must be at least dashboard.sign_in.lock",
            ));
        }
        Ok(())
    }
}
