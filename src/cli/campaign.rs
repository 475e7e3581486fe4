//! `surveyd campaign …`: the campaigns defined in configuration.

use super::{OutputFormat, Times, open_store, print_row, print_rows};
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::duration;
use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// List the configured campaigns, after checking them and their questionnaires.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Invite the campaign's eligible contacts: each gets one invitation, ever, with its
    /// message queued for `closed_at + delay`. Prints how many were eligible, invited and
    /// skipped (already invited, no address for the channel, opted out).
    Run {
        /// The campaign's name, as in `surveyd campaign list`.
        name: String,
        /// Count what would happen and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Take contacts closed since this date (YYYY-MM-DD in the default time zone, or
        /// RFC 3339) instead of the campaign's lookback: a backfill.
        #[arg(long, value_name = "DATE")]
        since: Option<super::DateArg>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Show the campaign's messages on each of its channels, as they would be sent, for a
    /// sample customer or a stored contact; `--to` sends one test message (no invitation).
    Preview(super::preview::PreviewArgs),
    /// The campaign's planning runs, latest first: what started each (schedule, cli, api),
    /// for which tick, when it started and finished, and what it counted or why it failed.
    Runs {
        name: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

/// The configured campaign `name`, or an error listing the known ones.
pub(super) fn find<'a>(
    settings: &'a Settings,
    name: &str,
) -> anyhow::Result<&'a crate::campaign::Campaign> {
    settings
        .campaigns
        .iter()
        .find(|c| c.name == name)
        .with_context(|| {
            let known: Vec<&str> = settings.campaigns.iter().map(|c| c.name.as_str()).collect();
            format!("no campaign `{name}` (known: {})", known.join(", "))
        })
}

pub async fn run(settings: Settings, times: Times, command: CampaignCommand) -> anyhow::Result<()> {
    match command {
        CampaignCommand::Run {
            name,
            dry_run,
            since,
            format,
        } => {
            settings.load_campaigns()?;
            let campaign = find(&settings, &name)?;
            let clock = Clock::system();
            let now = clock.now();
            let mut campaign = campaign.clone();
            if let Some(since) = since {
                let since = since.instant(settings.defaults.time_zone)?;
                campaign.audience.lookback = (now - since).to_std().unwrap_or_default();
            }
            let key = settings.survey_key()?;
            let store = open_store(&settings).await?;
            let counts =
                crate::scheduler::run_by_hand(&store, &campaign, "cli", dry_run, &key, &clock)
                    .await?;
            store.close().await;
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&counts)?),
                OutputFormat::Table => {
                    let s = &counts.skipped;
                    print_row(
                        format,
                        &[
                            "eligible",
                            "invited",
                            "already invited",
                            "no address",
                            "opted out",
                            "frequency cap",
                            "not sampled",
                            "too late",
                        ],
                        &counts,
                        |c| {
                            [
                                c.eligible,
                                c.invited,
                                s.already_invited,
                                s.no_address,
                                s.opted_out,
                                s.frequency_cap,
                                s.not_sampled,
                                s.too_late,
                            ]
                            .map(|n| n.to_string())
                            .to_vec()
                        },
                    )?;
                }
            }
            if dry_run {
                eprintln!("dry run: nothing was written");
            }
            Ok(())
        }
        CampaignCommand::Preview(args) => super::preview::run(settings, args).await,
        CampaignCommand::Runs {
            name,
            limit,
            format,
        } => {
            find(&settings, &name)?;
            let store = open_store(&settings).await?;
            let runs = store.campaign_runs(&name, limit).await?;
            store.close().await;
            print_rows(
                format,
                &[
                    "run", "trigger", "for", "started", "took", "eligible", "invited", "result",
                ],
                &runs,
                &format!("no runs of campaign `{name}` yet"),
                |r| {
                    vec![
                        r.id.to_string(),
                        r.trigger.clone(),
                        times.at(r.scheduled_for),
                        times.at(r.started_at),
                        r.finished_at.map_or("–".into(), |finished| {
                            duration::format((finished - r.started_at).to_std().unwrap_or_default())
                        }),
                        r.eligible.map_or("–".into(), |n| n.to_string()),
                        r.invited.map_or("–".into(), |n| n.to_string()),
                        r.error.clone().unwrap_or_else(|| match r.finished_at {
                            Some(_) => "ok".into(),
                            None => "running".into(),
                        }),
                    ]
                },
            )
        }
        CampaignCommand::List { format } => {
            settings.load_campaigns()?;
            print_rows(
                format,
                &[
                    "name",
                    "questionnaire",
                    "channels",
                    "delay",
                    "expiry",
                    "audience",
                    "schedule",
                ],
                &settings.campaigns,
                "no campaigns: add [[campaigns]] to the configuration",
                |c| {
                    let a = &c.audience;
                    let mut audience = vec![format!(
                        "closed in the last {}",
                        duration::format(a.lookback)
                    )];
                    let mut filter = |name: &str, values: Vec<String>| {
                        if !values.is_empty() {
                            audience.push(format!("{name}: {}", values.join(", ")));
                        }
                    };
                    filter("teams", a.teams.clone());
                    filter("categories", a.categories.clone());
                    filter(
                        "contact channels",
                        a.contact_channels.iter().map(ToString::to_string).collect(),
                    );
                    filter(
                        "resolutions",
                        a.resolutions.iter().map(ToString::to_string).collect(),
                    );
                    vec![
                        c.name.clone(),
                        c.questionnaire.clone(),
                        c.channels
                            .iter()
                            .map(|ch| ch.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        duration::format(c.delay),
                        duration::format(c.expiry),
                        audience.join("; "),
                        c.schedule
                            .as_ref()
                            .map_or("by hand".into(), ToString::to_string),
                    ]
                },
            )
        }
    }
}
