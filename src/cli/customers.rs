//! `surveyd customers …`: a customer's right to be forgotten.

use super::retention::print_erased;
use super::{OutputFormat, open_store};
use crate::channels::email;
use crate::clock::Clock;
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Erase one customer everywhere — name, addresses, helpdesk id, contact attributes,
    /// comments, alert notes, delivery errors, webhook payloads with their numbers, emails in
    /// the file outbox — and cancel what is still queued for them; the anonymous scores stay.
    /// Prints what was erased and records it in the audit log.
    Forget {
        /// The customer's id in the helpdesk (`customer_id` of the imported contacts).
        customer_id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(settings: Settings, command: CustomersCommand) -> anyhow::Result<()> {
    let CustomersCommand::Forget {
        customer_id,
        format,
    } = command;
    let store = open_store(&settings).await?;
    let forgotten = store
        .forget_customer(&customer_id, "cli", Clock::system().now())
        .await;
    store.close().await;
    let Some(forgotten) = forgotten? else {
        anyhow::bail!("no customer has the id `{customer_id}`");
    };
    let files = email::remove_from_file_outbox(&settings.email, &forgotten.email_deliveries)?;
    eprintln!(
        "customer `{customer_id}` forgotten (now {})",
        forgotten.subject
    );
    print_erased(format, &forgotten.erased, files)
}
