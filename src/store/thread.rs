//! The database threads: every SQLite call runs on a thread of its own, never on the async
//! runtime.
//!
//! Why it exists: a statement can wait up to [`super::BUSY_TIMEOUT`] for a lock another process
//! holds (the operator CLI writes the same file). Run on a runtime worker, that wait — or a task
//! queued behind it on a mutex — would hold the worker, and with two workers freeze the bot,
//! Stop buttons included. Here a call is a job sent to the connection's thread; the caller's task
//! awaits the answer and its worker goes on with other tasks. One thread per connection keeps
//! SQLite's own rule (one writer at a time) as a queue instead of a lock.
//!
//! A job that panics is answered with its panic, resumed in the caller (a bug stays loud where it
//! was made); the thread and its connection live on (an open transaction rolls back on unwind).

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use rusqlite::Connection;

use super::{Result, StoreError};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;
type Answer<R> = std::thread::Result<Result<R>>;

/// A connection owned by its thread; cheap to share (`Arc`), the thread ends when the last
/// handle is dropped and its queue is drained.
pub(super) struct Db {
    jobs: mpsc::Sender<Job>,
}

impl Db {
    /// Move `conn` onto a new thread named `name`.
    pub(super) fn spawn(name: &str, conn: Connection) -> Result<Db> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut conn = conn;
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(|source| StoreError::Io {
                path: name.into(),
                source,
            })?;
        Ok(Db { jobs })
    }

    fn send<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<Answer<R>>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))));
        });
        self.jobs.send(job).map_err(|_| StoreError::Stopped)?;
        Ok(rx)
    }

    /// Run `f` on the connection's thread and await its answer. Dropping the future does not
    /// cancel a job already sent: it runs (and commits) all the same.
    pub(super) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        answer(self.send(f)?.await)
    }
}

fn answer<R>(
    got: std::result::Result<Answer<R>, tokio::sync::oneshot::error::RecvError>,
) -> Result<R> {
    match got {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => Err(StoreError::Stopped),
    }
}
