//! Rollouts on tokio tasks: a multi-thread runtime that runs one task per rollout and is shut
//! down before the test reads anything the tasks recorded.

use std::future::Future;

use anyhow::Context as _;

/// Runs `task(i)` for every `i` in `0..n` as its own task on a multi-thread runtime of
/// `workers` threads, waits for all of them (a panicked task is an error), then shuts the
/// runtime down.
pub fn run_tasks<F>(workers: usize, n: usize, task: impl Fn(usize) -> F) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()?;
    runtime.block_on(async {
        let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
        for t in tasks {
            t.await.context("a rollout task panicked")?;
        }
        anyhow::Ok(())
    })?;
    drop(runtime);
    Ok(())
}
