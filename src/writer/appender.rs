//! The writer's contract with `tracing_appender::non_blocking`: the one place that knows how
//! it behaves beyond its documented API, and the tests that pin that behaviour, so that a
//! dependency bump that changes it fails here.
//!
//! Invariant: nothing else in the crate builds a `NonBlocking` or relies on the worker's
//! batching, flushing or shutdown timing; the rest of the writer depends only on what
//! [`start`] documents. What it relies on (tracing-appender 0.2.x, pinned by the tests below):
//!
//! 1. **One `write` per message.** `NonBlocking::write` sends its bytes as one channel
//!    message, and the worker calls `write_all` on our sink once per message with exactly
//!    those bytes; as the sink always reports the full length, that is one `Sink::write`
//!    per wake-up (`writer::post`).
//! 2. **One `flush` per batch.** The worker blocks on one receive, then takes whatever else is
//!    queued without blocking, then calls `flush` once; so `Sink::flush` marks the end of a
//!    batch (the writer flushes its open files and may linger there).
//! 3. **Errors only once the worker is gone.** With `lossy(false)`, writing waits for room in
//!    the channel and fails only after the worker stopped (its guard dropped): `post` takes
//!    a failed wake-up to mean "nobody will drain the queue".
//! 4. **Drop timing.** Dropping the `WorkerGuard` queues a shutdown (waiting at most 100 ms
//!    for room) and then waits at most 1 s for the worker to reach it; the worker has
//!    written and flushed everything queued before the shutdown by then. After a completed
//!    barrier the channel is empty, so this returns at once.
//! 5. **A thread that cannot start panics.** `NonBlockingBuilder::finish` `expect`s the
//!    spawn; [`start`] turns that into an error instead (a probe spawn first, and the
//!    builder's panic caught should the OS refuse only the second thread).

use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Name of the writer thread.
pub(crate) const THREAD_NAME: &str = "tracing-rollout";

/// Capacity of the channel, which carries only wake-ups: records wait in `writer::Parcels`,
/// bounded by the byte budget alone. A wake-up is sent only when `Parcels` has none pending,
/// and only the writer thread's drain clears that, which runs on receiving a wake-up, so the
/// next one is sent only after the previous one left the channel: at most one is ever in it.
/// The other slot is for the shutdown that dropping the `WorkerGuard` sends (point 4 above),
/// so it gets in at once even beside a waiting wake-up while the writer thread is stuck.
pub(crate) const WAKE_CHANNEL_CAPACITY: usize = 2;

/// Starts the worker thread that owns `sink`, on a channel of [`WAKE_CHANNEL_CAPACITY`]
/// wake-ups, lossless. Fails, instead of panicking, when the thread cannot be started.
pub(crate) fn start<W>(sink: W) -> io::Result<(NonBlocking, WorkerGuard)>
where
    W: Write + Send + 'static,
{
    start_after(std::thread::Builder::new(), sink)
}

/// [`start`], with the probe thread built by `probe` (tests make it fail).
fn start_after<W>(probe: std::thread::Builder, sink: W) -> io::Result<(NonBlocking, WorkerGuard)>
where
    W: Write + Send + 'static,
{
    // tracing-appender `expect`s its spawn: find out first whether the OS gives us a thread.
    probe
        .name(THREAD_NAME.to_owned())
        .spawn(|| {})?
        .join()
        .map_err(|_| io::Error::other("the probe thread panicked"))?;
    let builder = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(WAKE_CHANNEL_CAPACITY)
        .thread_name(THREAD_NAME);
    catch_unwind(AssertUnwindSafe(|| builder.finish(sink)))
        .map_err(|_| io::Error::other("tracing-appender could not start its worker thread"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Barrier, Mutex};

    /// What the worker did with the sink, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Call {
        Write(Vec<u8>, Option<String>),
        Flush,
    }

    /// A sink that records every call and, on a `block` message, meets `gate` twice (once to
    /// say it is inside `write`, once to be released).
    struct Recorder {
        calls: Arc<Mutex<Vec<Call>>>,
        gate: Arc<Barrier>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let name = std::thread::current().name().map(str::to_owned);
            self.calls
                .lock()
                .unwrap()
                .push(Call::Write(buf.to_vec(), name));
            if buf == b"block" {
                self.gate.wait();
                self.gate.wait();
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            self.calls.lock().unwrap().push(Call::Flush);
            Ok(())
        }
    }

    fn recorder() -> (Recorder, Arc<Mutex<Vec<Call>>>, Arc<Barrier>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Barrier::new(2));
        let sink = Recorder {
            calls: Arc::clone(&calls),
            gate: Arc::clone(&gate),
        };
        (sink, calls, gate)
    }

    fn write(nb: &NonBlocking, msg: &[u8]) -> io::Result<()> {
        nb.clone().write_all(msg)
    }

    fn named(msg: &[u8]) -> Call {
        Call::Write(msg.to_vec(), Some(THREAD_NAME.to_owned()))
    }

    /// Points 1 and 2: while the worker is inside `write` for one message, two more are
    /// queued (the channel's capacity); released, it writes each with one `write` of exactly
    /// its bytes, on the named thread, then flushes once for the batch.
    #[test]
    fn each_message_is_one_write_and_a_batch_ends_with_one_flush() {
        let (sink, calls, gate) = recorder();
        let (nb, guard) = start(sink).unwrap();
        write(&nb, b"block").unwrap();
        gate.wait(); // the worker is inside write("block")
        write(&nb, b"a").unwrap();
        write(&nb, b"bc").unwrap();
        gate.wait(); // release it
        drop(guard);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls[..4],
            [named(b"block"), named(b"a"), named(b"bc"), Call::Flush],
            "{calls:?}"
        );
    }

    /// Points 3 and 4: dropping the guard returns after everything written before it was
    /// handled and flushed; writing afterwards fails (the worker is gone), without blocking.
    #[test]
    fn dropping_the_guard_drains_then_writes_fail() {
        let (sink, calls, _gate) = recorder();
        let (nb, guard) = start(sink).unwrap();
        for i in 0..50u8 {
            write(&nb, &[i]).unwrap();
        }
        drop(guard);
        let calls = calls.lock().unwrap().clone();
        let written: Vec<Vec<u8>> = calls
            .iter()
            .filter_map(|c| match c {
                Call::Write(bytes, _) => Some(bytes.clone()),
                Call::Flush => None,
            })
            .collect();
        assert_eq!(written, (0..50u8).map(|i| vec![i]).collect::<Vec<_>>());
        let last_write = calls.iter().rposition(|c| matches!(c, Call::Write(..)));
        let last_flush = calls.iter().rposition(|c| *c == Call::Flush);
        assert!(last_flush > last_write, "{calls:?}");
        assert!(write(&nb, b"late").is_err());
    }

    /// Point 4, the other side: a guard dropped while the worker is stuck does not wait for
    /// it for ever (the shutdown slot is free, the worker never answers).
    #[test]
    fn dropping_the_guard_with_a_stuck_worker_returns() {
        let (sink, _calls, gate) = recorder();
        let (nb, guard) = start(sink).unwrap();
        write(&nb, b"block").unwrap();
        gate.wait();
        let (done_tx, done_rx) = mpsc::channel();
        let dropper = std::thread::spawn(move || {
            drop(guard);
            done_tx.send(()).unwrap();
        });
        // The guard's drop gives up on its own (tracing-appender's 1 s bound); only then is
        // the worker released, so a drop that waited for the worker would deadlock here.
        done_rx.recv().unwrap();
        gate.wait();
        dropper.join().unwrap();
    }

    /// Point 5: a thread the OS refuses is an error, not a panic.
    #[test]
    fn a_writer_thread_that_cannot_start_is_an_error() {
        let (sink, _calls, _gate) = recorder();
        // No OS gives a thread a stack of half the address space.
        let probe = std::thread::Builder::new().stack_size(usize::MAX / 2);
        let err = start_after(probe, sink).expect_err("the probe cannot start");
        assert!(!err.to_string().is_empty());
    }
}
