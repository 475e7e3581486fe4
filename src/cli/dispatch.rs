//! `surveyd dispatch`: send every due delivery, then exit (for cron and tests).

use super::{OutputFormat, open_pool, print_row};
use crate::clock::Clock;
use crate::config::Settings;
use crate::dispatch::Mode;
use std::sync::Arc;

pub async fn run(settings: Settings, format: OutputFormat) -> anyhow::Result<()> {
    let store = open_pool(&settings, 4).await?;
    let dispatcher = Arc::new(crate::app::dispatcher(
        store.clone(),
        &settings,
        Clock::system(),
    )?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::http::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let started = std::time::Instant::now();
    let counts = dispatcher.run(Mode::UntilIdle, stopped).await?;
    let took = started.elapsed();
    store.close().await;
    counts.log("dispatch finished", took);
    print_row(
        format,
        &["sent", "retried", "failed", "released", "deferred", "took"],
        &counts,
        |c| {
            vec![
                c.sent.to_string(),
                c.retried.to_string(),
                c.failed.to_string(),
                c.released.to_string(),
                c.deferred.to_string(),
                // To the millisecond: `1s 250ms`.
                crate::domain::duration::format(std::time::Duration::from_millis(
                    took.as_millis() as u64
                )),
            ]
        },
    )
}
