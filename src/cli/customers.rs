//! `surveyd customers …`: one customer as the operator looks them up (details, contacts,
//! invitations, opt-outs), and a customer's right to be forgotten.

use super::retention::print_erased;
use super::{OutputFormat, Times, open_store, print_fields, print_rows};
use crate::channels::email;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::{CustomerRecord, Store};
use clap::Subcommand;
use std::io::IsTerminal;

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// One customer: name, addresses, locale, time zone and segment, then their contacts,
    /// the invitations they were sent and their opt-outs (personal data: for operators).
    Show {
        /// The customer's id in the helpdesk (`customer_id` of the imported contacts).
        customer_id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Erase one customer everywhere — name, addresses, helpdesk id, contact attributes,
    /// comments, alert notes, delivery errors, webhook payloads with their numbers, emails in
    /// the file outbox — and cancel what is still queued for them; the anonymous scores stay.
    /// Asks first on a terminal; elsewhere (scripts) it needs `--yes`. Prints what was erased
    /// and records the same counts in the audit log.
    Forget {
        /// The customer's id in the helpdesk (`customer_id` of the imported contacts).
        customer_id: String,
        /// Do not ask: erase at once (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(
    settings: Settings,
    times: Times,
    command: CustomersCommand,
) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let result = match command {
        CustomersCommand::Show {
            customer_id,
            format,
        } => find(&store, &customer_id)
            .await
            .and_then(|record| show(&record, times, format)),
        CustomersCommand::Forget {
            customer_id,
            yes,
            format,
        } => forget(&settings, &store, &customer_id, yes, format).await,
    };
    store.close().await;
    result
}

/// The customer `customer_id`, or an error naming the id.
async fn find(store: &Store, customer_id: &str) -> anyhow::Result<CustomerRecord> {
    store
        .customer(customer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no customer has the id `{customer_id}`"))
}

fn show(record: &CustomerRecord, times: Times, format: OutputFormat) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(record)?);
        return Ok(());
    }
    let c = &record.customer;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "–".into());
    let mut fields = vec![
        ("customer", c.customer_id.clone()),
        ("name", or_dash(&c.name)),
        ("email", or_dash(&c.email)),
        ("phone", or_dash(&c.phone)),
        ("whatsapp", or_dash(&c.whatsapp)),
        ("locale", or_dash(&c.locale)),
        ("time zone", or_dash(&c.time_zone)),
        ("segment", or_dash(&c.segment)),
        ("stored", times.at(c.created_at)),
    ];
    if let Some(erased) = c.erased_at {
        fields.push(("erased", format!("{} (retention)", times.at(erased))));
    }
    print_fields(&fields);
    let text = |v: &Option<String>| v.clone().unwrap_or_default();

    println!("\ncontacts");
    print_rows(
        OutputFormat::Table,
        &[
            "contact",
            "closed",
            "agent",
            "team",
            "category",
            "via",
            "resolution",
        ],
        &record.contacts,
        "no contacts",
        |k| {
            vec![
                k.contact_id.clone(),
                times.at(k.closed_at),
                match (&k.agent_name, &k.agent_id) {
                    (Some(name), Some(id)) => format!("{name} ({id})"),
                    (_, id) => text(id),
                },
                text(&k.team),
                text(&k.category),
                text(&k.contact_channel),
                text(&k.resolution),
            ]
        },
    )?;

    println!("\ninvitations");
    print_rows(
        OutputFormat::Table,
        &[
            "invitation",
            "campaign",
            "contact",
            "channel",
            "state",
            "sent",
            "answered",
        ],
        &record.invitations,
        "no invitations",
        |i| {
            vec![
                i.invitation_id.to_string(),
                i.campaign.clone(),
                i.contact_id.clone(),
                i.channel.clone(),
                i.state.clone(),
                times.maybe(i.sent_at, "–"),
                times.maybe(i.answered_at, "–"),
            ]
        },
    )?;

    println!("\nopt-outs");
    print_rows(
        OutputFormat::Table,
        &["channel", "since", "source"],
        &record.opt_outs,
        "no opt-outs",
        |o| vec![o.channel.clone(), times.at(o.created_at), o.source.clone()],
    )
}

async fn forget(
    settings: &Settings,
    store: &Store,
    customer_id: &str,
    yes: bool,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let record = find(store, customer_id).await?;
    if !yes {
        confirm(&record)?;
    }
    // The file outbox's emails go first: the audit event then counts them, and a failure to
    // remove them leaves the database untouched (run it again).
    let deliveries = store
        .customer_email_deliveries(customer_id)
        .await?
        .unwrap_or_default();
    let files = email::remove_from_file_outbox(&settings.email, &deliveries)?;
    let Some(forgotten) = store
        .forget_customer(customer_id, "cli", Clock::system().now(), files)
        .await?
    else {
        anyhow::bail!("no customer has the id `{customer_id}`");
    };
    eprintln!(
        "customer `{customer_id}` forgotten (now {})",
        forgotten.subject
    );
    print_erased(format, &forgotten.erased)
}

/// Asks on the terminal whether to forget the customer; refuses without one (a script must
/// say `--yes`: an erasure cannot be undone).
fn confirm(record: &CustomerRecord) -> anyhow::Result<()> {
    let c = &record.customer;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "not forgetting customer `{}`: standard input is not a terminal to confirm on; \
             add --yes to erase without asking",
            c.customer_id
        );
    }
    eprint!(
        "Forget customer `{}`{} with {} contact(s) and {} invitation(s)? Their name, \
         addresses and comments are erased for good. [y/N] ",
        c.customer_id,
        c.name
            .as_deref()
            .map_or(String::new(), |name| format!(" ({name})")),
        record.contacts.len(),
        record.invitations.len()
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    match answer.trim().to_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => anyhow::bail!("customer `{}` not forgotten", c.customer_id),
    }
}
