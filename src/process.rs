//! This process: its name on leases and run records, and the work it repeats until it stops.

/// This process, as leases and run records name it: host, process id and a random part.
pub fn name() -> String {
    format!(
        "{}:{}:{:08x}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    )
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// Runs `job` until `stopped` turns true: at once, then again after the wait each run
/// returns. A run in progress finishes before it stops; a wait is cut short.
pub async fn repeat<F, Fut>(mut stopped: tokio::sync::watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::time::Duration>,
{
    while !*stopped.borrow() {
        let wait = job().await;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
    }
}
