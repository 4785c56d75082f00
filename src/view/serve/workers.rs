//! The threads that own the bundles' reducers: each bundle lives on one of a few worker
//! threads (chosen by its name), and requests reach it by sending that thread a job.
//!
//! Invariant: a bundle's [`Watched`] state is created, fed and read only on its own worker
//! thread (the reducer is not `Send`: it shares parsed items through `Rc`), so no lock is
//! held across a reduction and bundles on different workers reduce in parallel. A job that
//! panics costs that worker its cached bundles (rebuilt on the next request), never the
//! thread; a job whose worker is gone is answered `None`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, sync_channel, Sender};

use super::live::Watched;

/// The bundles one worker owns, by name.
pub(crate) type Shelf = HashMap<String, Watched>;

type Job = Box<dyn FnOnce(&mut Shelf) + Send>;

/// The worker threads.
#[derive(Debug)]
pub(crate) struct Workers {
    senders: Vec<Sender<Job>>,
}

impl Workers {
    /// Starts `n` workers (at least one).
    pub(crate) fn start(n: usize) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        for i in 0..n.max(1) {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name(format!("tracing-rollout-reduce-{i}"))
                .spawn(move || {
                    let mut shelf = Shelf::new();
                    while let Ok(job) = rx.recv() {
                        let done = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut shelf)));
                        if done.is_err() {
                            shelf.clear();
                        }
                    }
                })?;
            senders.push(tx);
        }
        Ok(Workers { senders })
    }

    /// How many workers there are.
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }

    /// The worker that owns the bundle `name`.
    pub(crate) fn of(&self, name: &str) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        (hasher.finish() % self.senders.len() as u64) as usize
    }

    /// Runs `job` on worker `worker` and waits for its result (`None` if the worker is gone
    /// or the job panicked).
    pub(crate) fn run<R: Send + 'static>(
        &self,
        worker: usize,
        job: impl FnOnce(&mut Shelf) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = sync_channel(1);
        let job: Job = Box::new(move |shelf| {
            let _ = tx.send(job(shelf));
        });
        self.senders.get(worker)?.send(job).ok()?;
        rx.recv().ok()
    }

    /// Runs `job` on worker `worker` without waiting.
    pub(crate) fn post(&self, worker: usize, job: impl FnOnce(&mut Shelf) + Send + 'static) {
        if let Some(sender) = self.senders.get(worker) {
            let _ = sender.send(Box::new(job));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_job_that_panics_leaves_its_worker_answering() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.of("a"), workers.of("a"));
        let r: Option<u32> = workers.run(0, |_| panic!("a job failed"));
        assert_eq!(r, None);
        assert_eq!(workers.run(0, |shelf| shelf.len()), Some(0));
        assert_eq!(workers.run(7, |_| 1), None, "no such worker");
    }
}
