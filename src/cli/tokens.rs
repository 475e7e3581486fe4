//! `surveyd tokens …`: bearer tokens for the HTTP API. A token is shown once, when made;
//! only its SHA-256 is stored.

use super::{OutputFormat, Times, create_store, open_store, print_rows};
use crate::auth::{TokenHash, new_token};
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;
use std::io::Read;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a new token, store its hash, and print the token (the only time it is shown).
    Create {
        /// A unique name, e.g. the helpdesk that will use it.
        name: String,
    },
    /// List stored tokens (names and dates, never the tokens).
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Delete a stored token; clients using it get 401 from then on.
    Revoke { name: String },
    /// Read a token on standard input and print its SHA-256, for `[api] tokens` in a config file.
    Hash,
}

pub async fn run(settings: Settings, times: Times, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::Hash => {
            let mut token = String::new();
            std::io::stdin().read_to_string(&mut token)?;
            println!("{}", TokenHash::of(token.trim()));
        }
        TokensCommand::Create { name } => {
            let store = create_store(&settings).await?;
            let (token, hash) = new_token();
            store
                .create_token(&name, &hash, Clock::system().now())
                .await?;
            eprintln!("token `{name}` created; it is shown once, keep it now:");
            println!("{token}");
            store.close().await;
        }
        TokensCommand::List { format } => {
            let store = open_store(&settings).await?;
            let tokens = store.list_tokens().await?;
            print_rows(
                format,
                &["name", "created", "last used"],
                &tokens,
                "no tokens: make one with `surveyd tokens create NAME`",
                |t| {
                    vec![
                        t.name.clone(),
                        times.at(t.created_at),
                        times.maybe(t.last_used_at, "never"),
                    ]
                },
            )?;
            store.close().await;
        }
        TokensCommand::Revoke { name } => {
            let store = open_store(&settings).await?;
            store.revoke_token(&name).await?;
            println!("token `{name}` revoked");
            store.close().await;
        }
    }
    Ok(())
}
