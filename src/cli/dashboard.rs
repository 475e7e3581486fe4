//! `surveyd dashboard hash-password`: the Argon2id hash of a dashboard password, for
//! `dashboard.users` (the password itself is never stored).

use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Subcommand)]
pub enum DashboardCommand {
    /// Read a password (typed without echo, or one line on standard input) and print its
    /// Argon2id hash.
    HashPassword,
}

pub fn run(command: DashboardCommand) -> anyhow::Result<()> {
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
    }
}
