//! `surveyd campaign …`: the campaigns defined in configuration.

use super::{OutputFormat, print_rows};
use crate::campaign::describe;
use crate::config::Settings;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// List the configured campaigns, after checking them and their questionnaires.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub fn run(settings: Settings, command: CampaignCommand) -> anyhow::Result<()> {
    match command {
        CampaignCommand::List { format } => {
            settings.load_campaigns()?;
            print_rows(
                format,
                &[
                    "name",
                    "questionnaire",
                    "channel",
                    "delay",
                    "expiry",
                    "audience",
                ],
                &settings.campaigns,
                |c| {
                    let a = &c.audience;
                    let mut audience = vec![format!("closed in the last {}", describe(a.lookback))];
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
                        c.channel.as_str().to_owned(),
                        describe(c.delay),
                        describe(c.expiry),
                        audience.join("; "),
                    ]
                },
            )
        }
    }
}
