//! `surveyd demo`: example contacts closed just long enough ago for the campaign's invitations
//! to be due now — Indonesian and English customers, five agents in three teams — stored and
//! planned, so the survey loop can be tried on any day. Each run adds new contacts (their ids
//! carry the minute they were made), so it can be run again.

use super::{OutputFormat, create_store};
use crate::clock::Clock;
use crate::config::Settings;
use crate::intake::{ParseContext, RawContact};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The campaign to plan (an email campaign, so the daemon's file outbox receives them).
    #[arg(long, default_value = "post-contact-email")]
    campaign: String,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

/// The example customers: name, email, phone, locale, time zone, agent, team, how they got in
/// touch, category, resolution.
const CUSTOMERS: [[&str; 10]; 10] = [
    [
        "Budi Santoso",
        "budi@example.co.id",
        "0812-3456-7890",
        "id",
        "Asia/Jakarta",
        "A-01:Sari Wijaya",
        "Billing",
        "phone",
        "billing",
        "resolved",
    ],
    [
        "Maria Tan",
        "maria@example.com",
        "",
        "en",
        "Asia/Singapore",
        "A-02:Dewi Lestari",
        "Billing",
        "chat",
        "refund",
        "escalated",
    ],
    [
        "Agus Pratama",
        "agus@example.co.id",
        "0813-1111-2222",
        "id",
        "Asia/Makassar",
        "A-01:Sari Wijaya",
        "Billing",
        "whatsapp",
        "billing",
        "resolved",
    ],
    [
        "Putu Ayu",
        "",
        "0815-7777-8888",
        "id",
        "Asia/Makassar",
        "A-03:Rizky Hidayat",
        "Network",
        "phone",
        "outage",
        "unresolved",
    ],
    [
        "John Miller",
        "john@example.com",
        "",
        "en",
        "Asia/Jakarta",
        "A-03:Rizky Hidayat",
        "Network",
        "email",
        "outage",
        "resolved",
    ],
    [
        "Siti Rahma",
        "siti@example.co.id",
        "0811-2222-3333",
        "id",
        "Asia/Jayapura",
        "A-02:Dewi Lestari",
        "Billing",
        "phone",
        "billing",
        "resolved",
    ],
    [
        "Rina Kusuma",
        "rina@example.co.id",
        "",
        "id",
        "Asia/Jakarta",
        "A-04:Andi Saputra",
        "Network",
        "chat",
        "internet",
        "resolved",
    ],
    [
        "Emily Clarke",
        "emily@example.com",
        "",
        "en",
        "Asia/Jakarta",
        "A-04:Andi Saputra",
        "Network",
        "email",
        "internet",
        "escalated",
    ],
    [
        "Wayan Sudarsana",
        "wayan@example.co.id",
        "0817-4444-5555",
        "id",
        "Asia/Makassar",
        "A-05:Fajar Nugroho",
        "Sales",
        "phone",
        "upgrade",
        "resolved",
    ],
    [
        "David Lim",
        "david@example.com",
        "",
        "en-SG",
        "Asia/Singapore",
        "A-05:Fajar Nugroho",
        "Sales",
        "chat",
        "upgrade",
        "unresolved",
    ],
];

/// What the demo did.
#[derive(Debug, Serialize)]
struct Demo {
    campaign: String,
    /// When the contacts closed: the campaign's delay ago, a few minutes apart.
    closed_from: chrono::DateTime<chrono::Utc>,
    closed_until: chrono::DateTime<chrono::Utc>,
    contacts: usize,
    plan: crate::store::PlanCounts,
    /// A survey link per invited customer, with the rating 4 chosen (nothing is recorded
    /// until the form is sent).
    links: Vec<Link>,
}

#[derive(Debug, Serialize)]
struct Link {
    contact: String,
    customer: String,
    channel: String,
    url: String,
}

pub async fn run(settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    settings.load_campaigns()?;
    let campaign = super::campaign::find(&settings, &args.campaign)?.clone();
    let clock = Clock::system();
    let now = clock.now();
    let delay = chrono::Duration::from_std(campaign.delay).unwrap_or_default();
    // To the millisecond, so a run repeated at once stores new contacts too.
    let stamp = now.format("%Y%m%d-%H%M%S%3f");
    // The first closed just over the delay ago, the others a few minutes before it.
    let closed = |i: usize| now - delay - chrono::Duration::minutes(1 + 3 * i as i64);
    let records: Vec<serde_json::Map<String, serde_json::Value>> = CUSTOMERS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (agent_id, agent_name) = c[5].split_once(':').unwrap_or((c[5], ""));
            let fields = [
                ("contact_id", format!("DEMO-{stamp}-{:02}", i + 1)),
                ("closed_at", closed(i).to_rfc3339()),
                ("customer_id", format!("DEMO-C-{:02}", i + 1)),
                ("customer_name", c[0].into()),
                ("email", c[1].into()),
                ("phone", c[2].into()),
                ("locale", c[3].into()),
                ("time_zone", c[4].into()),
                ("agent_id", agent_id.into()),
                ("agent_name", agent_name.into()),
                ("team", c[6].into()),
                ("contact_channel", c[7].into()),
                ("category", c[8].into()),
                ("resolution", c[9].into()),
            ];
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
                .collect()
        })
        .collect();
    let context = ParseContext::of(&settings.defaults);
    let contacts = records
        .iter()
        .map(|object| {
            let (raw, _, _) = RawContact::from_json(object);
            raw.parse(&context, now).map_err(|problems| {
                let reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("an example contact is invalid: {}", reasons.join("; "))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ids: Vec<String> = contacts
        .iter()
        .map(|c| c.contact_id.as_str().to_owned())
        .collect();

    let store = create_store(&settings).await?;
    store.upsert_contacts(&contacts, now).await?;
    let key = settings.survey_key()?;
    let plan = crate::scheduler::run_by_hand(&store, &campaign, "cli", false, &key, &clock).await?;
    let invited = store.invited(&campaign.name, &ids).await?;
    store.close().await;

    let base = settings.survey.public_url.as_str().trim_end_matches('/');
    let links = invited
        .into_iter()
        .map(|i| Link {
            url: format!("{base}/s/{}?r=4", key.token(&campaign.name, i.contact_id)),
            contact: i.external_id,
            customer: i.customer_name.unwrap_or_default(),
            channel: i.channel,
        })
        .collect();
    let demo = Demo {
        campaign: campaign.name.clone(),
        closed_from: closed(CUSTOMERS.len() - 1),
        closed_until: closed(0),
        contacts: contacts.len(),
        plan,
        links,
    };
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&demo)?),
        OutputFormat::Table => print(
            &demo,
            &campaign,
            settings.reports.time_zone(&settings.defaults),
        ),
    }
    Ok(())
}

fn print(demo: &Demo, campaign: &crate::campaign::Campaign, zone: crate::domain::TimeZone) {
    let tz = zone.tz();
    let at = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%H:%M").to_string();
    println!(
        "{} example contacts stored, closed {}–{} {zone} ({} ago: the delay of {})",
        demo.contacts,
        at(demo.closed_from),
        at(demo.closed_until),
        crate::domain::duration::format(campaign.delay),
        demo.campaign
    );
    let s = &demo.plan.skipped;
    let skipped: Vec<String> = [
        ("already invited", s.already_invited),
        ("no address", s.no_address),
        ("opted out", s.opted_out),
        ("frequency cap", s.frequency_cap),
        ("not sampled", s.not_sampled),
        ("too late", s.too_late),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(why, n)| format!("{n} {why}"))
    .collect();
    println!(
        "{}: {} invited{}",
        demo.campaign,
        demo.plan.invited,
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", skipped: {}", skipped.join(", "))
        }
    );
    println!(
        "Their messages are due now: a running `surveyd serve` sends them within seconds \
         (`surveyd dispatch` sends them once)."
    );
    if let Some(first) = demo.links.first() {
        println!(
            "Answer as {} (rating 4 chosen; nothing is recorded until the form is sent):",
            first.customer
        );
        println!("{}", first.url);
    }
}
