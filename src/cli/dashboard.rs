//! `surveyd dashboard …`: the dashboard's accounts — the Argon2id hash of a password, for
//! `dashboard.users` (the password itself is never stored), and ending an account's sessions
//! on every daemon (when it is removed from `dashboard.users` or its password may be known).

use super::open_store;
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Subcommand)]
pub enum DashboardCommand {
    /// Read a password (typed without echo, or one line on standard input) and print its
    /// Argon2id hash.
    HashPassword,
    /// End every session of an account at once, on every daemon sharing the database: do it
    /// when an account is removed from `dashboard.users` (daemons still running with the old
    /// settings would accept its sessions until they expire) or its password may be known.
    EndSessions {
        /// The account's name in `dashboard.users`.
        name: String,
    },
}

pub async fn run(settings: Settings, command: DashboardCommand) -> anyhow::Result<()> {
    match command {
        DashboardCommand::HashPassword => {
            let password = if std::io::stdin().is_terminal() {
                let first = rpassword::prompt_password("Password: ")?;
                let again = rpassword::prompt_password("Again: ")?;
                anyhow::ensure!(first == again, "the two passwords differ");
                first
            } else {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            anyhow::ensure!(
                password.chars().count() >= 10,
                "use a password of at least 10 characters"
            );
            let hash = crate::dashboard::hash_password(&password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            println!("{hash}");
            Ok(())
        }
        DashboardCommand::EndSessions { name } => {
            let store = open_store(&settings).await?;
            let ended = store.end_sessions_of(&name, Clock::system().now()).await?;
            store.close().await;
            println!("{ended} session(s) of `{name}` ended");
            Ok(())
        }
    }
}
