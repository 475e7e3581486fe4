//! `surveyd campaign preview`: a campaign's messages on each of its channels, composed exactly
//! as the dispatcher composes them — for a sample customer or a stored contact, in a chosen
//! language — and, with `--to`, one test message sent through the channel's provider without
//! an invitation, a delivery or anything else recorded.

use super::open_store;
use crate::campaign::Campaign;
use crate::clock::Clock;
use crate::config::Settings;
use crate::dispatch::Composed;
use crate::domain::{Channel, InvitationState, Locale, MessageKind, Phone, SurveyChannel};
use crate::store::{Claimed, Store};

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The campaign's name, as in `surveyd campaign list`.
    name: String,
    /// Send one test message to this email address or phone number (on the campaign's first
    /// channel it fits, or `--channel`); nothing is recorded, no invitation made.
    #[arg(long, value_name = "ADDRESS")]
    to: Option<String>,
    /// The customer's language (`id`, `en`…); the sample's or contact's own otherwise.
    #[arg(long)]
    locale: Option<Locale>,
    /// Fill the messages with a stored contact (its helpdesk id) instead of a sample customer.
    #[arg(long, value_name = "CONTACT_ID")]
    contact: Option<String>,
    /// Only this channel of the campaign (`email`, `sms`, `whatsapp`).
    #[arg(long, value_parser = channel)]
    channel: Option<SurveyChannel>,
    /// The message: the invitation, or its reminder.
    #[arg(long, value_enum, default_value = "invite")]
    kind: Kind,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    Invite,
    Reminder,
}

pub async fn run(settings: Settings, args: PreviewArgs) -> anyhow::Result<()> {
    settings.load_campaigns()?;
    let campaign = super::campaign::find(&settings, &args.name)?.clone();
    // A stored contact is read from the database; a sample needs none, so an empty one in
    // memory stands in (nothing is read from it or written to it).
    let store = match &args.contact {
        Some(_) => open_store(&settings).await?,
        None => {
            Store::open(
                &crate::config::DatabaseUrl::parse("sqlite::memory:")
                    .map_err(anyhow::Error::msg)?,
                1,
            )
            .await?
        }
    };
    let mut claimed = match &args.contact {
        Some(id) => {
            let contact = store
                .find_contact(id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no contact has the id `{id}`"))?;
            with_contact(sample(&campaign), &contact)
        }
        None => sample(&campaign),
    };
    if let Some(locale) = &args.locale {
        claimed.locale = Some(locale.to_string());
    }
    claimed.kind = match args.kind {
        Kind::Invite => MessageKind::Invite,
        Kind::Reminder => MessageKind::Reminder,
    };
    let dispatcher = crate::app::dispatcher(store.clone(), &settings, Clock::system())?;
    let channels: Vec<SurveyChannel> = match args.channel {
        Some(channel) if campaign.channels.contains(&channel) => vec![channel],
        Some(channel) => anyhow::bail!(
            "campaign `{}` does not send on {} (its channels: {})",
            campaign.name,
            channel.as_str(),
            names(&campaign.channels)
        ),
        None => campaign.channels.clone(),
    };

    match &args.to {
        None => {
            for channel in channels {
                claimed.channel = channel.into();
                print(
                    channel,
                    &dispatcher.compose(&claimed).map_err(anyhow::Error::msg)?,
                );
            }
        }
        Some(to) => {
            let country = settings.defaults.country.0;
            let phone = Phone::parse_in(to, country).ok();
            let channel = channels
                .iter()
                .copied()
                .find(|ch| match ch {
                    SurveyChannel::Email => to.contains('@'),
                    _ => phone.is_some(),
                })
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "`{to}` is neither an email address nor a phone number for the \
                         campaign's channels ({})",
                        names(&channels)
                    )
                })?;
            match channel {
                SurveyChannel::Email => claimed.email = Some(to.clone()),
                _ => {
                    let number = phone.map(|p| p.to_string());
                    claimed.phone = number.clone();
                    claimed.whatsapp = number;
                }
            }
            claimed.channel = channel.into();
            let message = dispatcher.compose(&claimed).map_err(anyhow::Error::msg)?;
            print(channel, &message);
            let id = dispatcher
                .send_once(&message)
                .await
                .map_err(|e| anyhow::anyhow!("the test message was not sent: {e}"))?;
            println!(
                "sent a test {} to {to} (provider's id {id}); no invitation was made, and its \
                 links lead nowhere",
                channel.as_str()
            );
        }
    }
    store.close().await;
    Ok(())
}

/// A sample customer's claim on the campaign's first question.
fn sample(campaign: &Campaign) -> Claimed {
    Claimed {
        delivery_id: 0,
        invitation_id: 0,
        contact_id: 0,
        customer_id: 0,
        attempts: 1,
        kind: MessageKind::Invite,
        // Set per channel before composing.
        channel: Channel::Survey(SurveyChannel::Email),
        // A test message is no delivery: a key of its own, as a first claim would give it.
        message_key: format!("{:032x}", rand::random::<u128>()),
        question: None,
        campaign: campaign.name.clone(),
        questionnaire: campaign.questionnaire.clone(),
        customer_name: Some("Budi Santoso".into()),
        email: Some("budi@example.co.id".into()),
        phone: Some("+6281234567890".into()),
        whatsapp: None,
        locale: None,
        time_zone: None,
        agent_name: Some("Sari Wijaya".into()),
        category: Some("billing".into()),
        closed_at: chrono::Utc::now() - campaign.delay,
        invitation_state: InvitationState::Planned,
        opted_out: false,
        expires_at: None,
        last_inbound_at: None,
    }
}

/// `claimed` with a stored contact's customer, agent and category.
fn with_contact(claimed: Claimed, c: &crate::domain::ContactRecord) -> Claimed {
    Claimed {
        customer_name: c.customer_name.clone(),
        email: c.email.as_ref().map(ToString::to_string),
        phone: c.phone.as_ref().map(ToString::to_string),
        whatsapp: c.whatsapp.as_ref().map(ToString::to_string),
        locale: c.locale.as_ref().map(ToString::to_string),
        time_zone: c.time_zone.as_ref().map(ToString::to_string),
        agent_name: c.agent_name.clone(),
        category: c.category.clone(),
        closed_at: c.closed_at,
        ..claimed
    }
}

fn channel(text: &str) -> Result<SurveyChannel, String> {
    SurveyChannel::parse(text).ok_or_else(|| "must be email, sms or whatsapp".to_owned())
}

fn names(channels: &[SurveyChannel]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the message as composed, its text [`terminal_safe`].
fn print(channel: SurveyChannel, message: &Composed) {
    use super::cells::terminal_safe;
    match message {
        Composed::Email(email) => {
            let to: Vec<String> = email.to.iter().map(ToString::to_string).collect();
            println!("== email to {}", terminal_safe(&to.join(", ")));
            println!("Subject: {}\n", terminal_safe(&email.subject));
            println!("{}", terminal_safe(email.text.trim_end()));
        }
        Composed::Chat(chat) => {
            let size = crate::render::sms::size(&chat.text);
            print!("== {} to {}", channel.as_str(), chat.to);
            if channel == SurveyChannel::Sms {
                print!(
                    " ({} {} units, {} segment(s))",
                    size.encoding.as_ref(),
                    size.units,
                    size.segments
                );
            }
            println!("\n{}", terminal_safe(chat.text.trim_end()));
            if !chat.options.is_empty() {
                let titles: Vec<&str> = chat.options.iter().map(|o| o.title.as_str()).collect();
                println!("[{}]", terminal_safe(&titles.join("] [")));
            }
        }
    }
    println!();
}
