//! What each provider emulator here is built on: its routes served on a free local port until
//! the emulator is dropped, and the record of what it accepted.

use std::sync::{Arc, Mutex};

/// A router served on `127.0.0.1`, on a port of its own, until dropped.
pub struct Served {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(app: axum::Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Served { base, task }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What an emulator accepted, in order: shared by its handlers and the test reading it.
pub struct Record<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Record<T> {
    fn clone(&self) -> Self {
        Record(Arc::clone(&self.0))
    }
}

impl<T> Default for Record<T> {
    fn default() -> Self {
        Record(Arc::default())
    }
}

impl<T: Clone> Record<T> {
    /// Keeps `item`; returns how many are kept with it.
    pub fn push(&self, item: T) -> usize {
        let mut items = self.0.lock().unwrap();
        items.push(item);
        items.len()
    }

    /// Everything kept so far.
    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}
