//! `surveyd config show`: the effective settings after every layer, secrets redacted.

use crate::config::Settings;
use clap::Subcommand;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML (secrets print as [redacted]), after a
    /// comment naming the layers it came from.
    Show,
}

pub fn run(settings: Settings, file: Option<&Path>, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show => {
            let file = match file {
                Some(path) => std::path::absolute(path)?.display().to_string(),
                None => "no file".into(),
            };
            let variables = std::env::vars()
                .filter(|(k, _)| k.starts_with("SURVEYD_") && k != "SURVEYD_CONFIG")
                .count();
            println!(
                "# The built-in defaults, then {file}, then {variables} SURVEYD_* environment \
                 variable(s)."
            );
            print!("{}", settings.to_toml());
        }
    }
    Ok(())
}
