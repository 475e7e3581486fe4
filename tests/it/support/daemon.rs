//! `surveyd` run as its own process, as operations run it: `serve`, or a long command such as
//! `dispatch`, with its log (standard error) going to a file of its own rather than a pipe
//! nobody reads while it runs. Killed (SIGKILL) when dropped unless it ended first.

use std::io::{Read, Seek};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Daemon {
    child: Child,
    log: std::fs::File,
}

impl Daemon {
    /// `surveyd --config {config} {command}`.
    pub fn start(config: &Path, command: &str) -> Daemon {
        let log = tempfile::tempfile().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_surveyd"))
            .env_remove("SURVEYD_CONFIG")
            .args(["--config", &config.display().to_string(), command])
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it has logged so far.
    pub fn logs(&mut self) -> String {
        let mut logs = String::new();
        self.log.seek(std::io::SeekFrom::Start(0)).unwrap();
        self.log.read_to_string(&mut logs).unwrap();
        logs
    }

    /// Fails with its log if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("surveyd exited ({status}): {}", self.logs());
        }
    }

    /// SIGKILL, as a crash: nothing it had in hand is finished.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then its exit: it stops cleanly.
    pub fn stop(self) {
        let pid = self.pid().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.finish();
    }

    /// Waits for it to end by itself; it succeeds.
    pub fn finish(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{}", self.logs());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
