//! Coalescing of identical concurrent requests.
//!
//! A read index costs a heartbeat round to a quorum; openraft does not merge
//! concurrent calls. A [`ReadIndexCoalescer`] runs one call at a time and hands its
//! result to every caller that arrived before the call started. A caller
//! arriving during a call waits for the next one, never reuses an answer
//! obtained before it arrived: that is what keeps reads linearizable.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Runs `f` once per round for all callers waiting at the round's start.
pub struct ReadIndexCoalescer<T> {
    tx: mpsc::UnboundedSender<oneshot::Sender<T>>,
}

impl<T> Clone for ReadIndexCoalescer<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Clone + Send + 'static> ReadIndexCoalescer<T> {
    /// Starts the task that runs `f`.
    pub fn spawn<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<T>>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiters = vec![first];
                while let Ok(w) = rx.try_recv() {
                    waiters.push(w);
                }
                let result = f().await;
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// The result of a round that starts after this call. `None` if the
    /// task has stopped.
    pub async fn call(&self) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).ok()?;
        rx.await.ok()
    }
}
