//! The byte budget: bytes in flight between the instrumented threads and the writer thread.
//!
//! Invariant: a message is queued for the writer thread only after [`Budget`] admitted its
//! bytes, and the writer thread releases exactly that many once the message is written, so
//! what is in flight never exceeds `max_buffered_bytes` (except one oversized message
//! admitted alone). Bytes are the only bound: the messages wait in `Parcels`, not in
//! tracing-appender's channel, which carries at most one wake-up at a time.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::{lock, wait_until};

/// Bytes in flight between the instrumented threads and the writer thread, in one atomic so
/// admission is a single CAS. The mutex and condvar are only the slow path of a blocked
/// sender.
pub(crate) struct Budget {
    max_bytes: u64,
    in_flight: AtomicU64,
    waiters: AtomicU64,
    closed: AtomicBool,
    lock: Mutex<()>,
    freed: Condvar,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("max_bytes", &self.max_bytes)
            .field("bytes_in_flight", &self.in_flight.load(Ordering::Relaxed))
            .finish()
    }
}

impl Budget {
    /// A budget of `max_bytes` (at least 1, and at most half the `u64` range so that what is
    /// in flight plus one more message never overflows).
    pub(crate) fn new(max_bytes: usize) -> Budget {
        Budget {
            max_bytes: (max_bytes as u64).clamp(1, u64::MAX / 2),
            in_flight: AtomicU64::new(0),
            waiters: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// What a message of `n` bytes counts for, in `try_acquire` and `release` alike: at most
    /// the whole budget (so an oversized message admitted alone fills it exactly), and at
    /// least one byte, so that nothing in flight (zero) means no message is admitted and not
    /// yet released. (The writer's messages are never empty — a short one counts its frame
    /// prefix — but the rule does not depend on that.)
    fn counted(&self, n: usize) -> u64 {
        (n as u64).clamp(1, self.max_bytes)
    }

    /// Admits `n` bytes if they fit, or if nothing is in flight (so one message larger than
    /// the whole budget still gets through, alone).
    pub(crate) fn try_acquire(&self, n: usize) -> bool {
        let n = self.counted(n);
        let mut cur = self.in_flight.load(Ordering::SeqCst);
        loop {
            if cur != 0 && cur + n > self.max_bytes {
                return false;
            }
            let new = cur + n;
            match self
                .in_flight
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Waits until `n` bytes fit. Returns false if the budget was closed (the guard finished)
    /// or `deadline` passed first.
    pub(crate) fn acquire(&self, n: usize, deadline: Option<Instant>) -> bool {
        if self.try_acquire(n) {
            return true;
        }
        // Registering as a waiter before retrying under the lock pairs with `release`, which
        // frees before it reads `waiters`: either we see the freed bytes or it sees us.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.lock);
        let admitted = loop {
            if self.closed.load(Ordering::SeqCst) {
                break false;
            }
            if self.try_acquire(n) {
                break true;
            }
            match wait_until(&self.freed, guard, deadline) {
                Ok(woken) => guard = woken,
                Err(expired) => {
                    guard = expired;
                    break false;
                }
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        admitted
    }

    /// Bytes the budget could admit now (what is not in flight).
    pub(crate) fn room(&self) -> usize {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        usize::try_from(self.max_bytes.saturating_sub(in_flight)).unwrap_or(usize::MAX)
    }

    /// Returns `n` bytes (one message) admitted earlier.
    pub(crate) fn release(&self, n: usize) {
        self.in_flight.fetch_sub(self.counted(n), Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.freed.notify_all();
        }
    }

    /// Makes every current and future blocking `acquire` fail: after finishing, nothing is
    /// written any more, so nobody may wait for room.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _guard = lock(&self.lock);
        self.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sender blocked on a full budget is admitted once enough has been released, whatever
    /// the size of its message: small, more than half the budget, more than all of it.
    #[test]
    fn blocked_sender_is_admitted_once_its_message_fits() {
        for (n, max) in [(10, 100), (70, 100), (250, 100)] {
            let budget = Arc::new(Budget::new(100));
            // Fill the budget with ten messages of ten bytes.
            for _ in 0..10 {
                assert!(budget.try_acquire(10));
            }
            assert!(!budget.try_acquire(n.min(max)));
            let waiter = {
                let budget = Arc::clone(&budget);
                // A deadline far beyond the releases below, so a lost wake-up fails the test
                // instead of hanging it.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                std::thread::spawn(move || budget.acquire(n, Some(deadline)))
            };
            // Release one message at a time; the waiter must get through by the last one.
            for _ in 0..10 {
                std::thread::sleep(std::time::Duration::from_millis(2));
                budget.release(10);
            }
            assert!(
                waiter.join().unwrap_or(false),
                "message of {n} bytes never admitted"
            );
        }
    }

    /// A message larger than the budget is admitted only when nothing is in flight, and an
    /// empty message still counts as in flight (one byte), so it is never "nothing".
    #[test]
    fn an_oversized_message_is_admitted_only_alone() {
        let budget = Budget::new(100);
        assert!(budget.try_acquire(0));
        assert!(!budget.try_acquire(250), "an empty message is in flight");
        budget.release(0);
        assert!(budget.try_acquire(250), "nothing in flight: admitted alone");
        assert!(
            !budget.try_acquire(0),
            "the oversized message fills the budget"
        );
        budget.release(250);
        for _ in 0..100 {
            assert!(budget.try_acquire(1));
        }
        assert!(!budget.try_acquire(1));
        for _ in 0..100 {
            budget.release(1);
        }
        assert_eq!(budget.in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn closing_wakes_a_blocked_sender_without_admitting_it() {
        let budget = Arc::new(Budget::new(100));
        assert!(budget.try_acquire(100));
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.acquire(10, None))
        };
        std::thread::sleep(std::time::Duration::from_millis(5));
        budget.close();
        assert!(!waiter.join().unwrap_or(true));
    }
}
