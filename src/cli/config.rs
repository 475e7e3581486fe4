//! `surveyd config show`: the effective settings after every layer, secrets redacted.

use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML (secrets print as [redacted]).
    Show,
}

pub fn run(settings: Settings, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => print!("{}", settings.to_toml()),
    }
    Ok(())
}
