//! A service run inside this process (tests and torture run the auth
//! service, the assistant and the gateway this way: they keep no state
//! worth crashing), stopped when its handle is dropped.

use std::fmt::Display;
use std::future::Future;

use boxoffice_server::Shutdown;

/// A service running in a task of this process; dropping it stops it.
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl InProcess {
    /// Runs `serve` with a shutdown future that resolves when the handle
    /// is dropped; a failure is printed on stderr as `<what> failed: …`.
    pub fn spawn<F, Fut, E>(what: &'static str, serve: F) -> Self
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = serve(Box::pin(async move {
            let _ = stopped.await;
        }));
        tokio::spawn(async move {
            if let Err(e) = served.await {
                eprintln!("{what} failed: {e:#}");
            }
        });
        Self { stop: Some(stop) }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
