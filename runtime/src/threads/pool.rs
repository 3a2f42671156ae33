//! The helper threads behind [`super::join`]: one per core beyond the calling one, started by
//! the first parallel pass and kept for the life of the process. Each helper has a slot that
//! holds at most one job, lent by reference from the stack of the thread that joins; handing
//! a job over moves a pointer and wakes one thread. Nothing allocates after the start (a
//! general-purpose pool's global queue allocates a block every few dozen jobs handed to it from
//! outside its threads).
//!
//! A job goes only to an idle helper, and a helper never waits on anything but the helpers its
//! own job lends to, which were idle: no cycle of waits, so no deadlock. When every helper is
//! busy (more groups than cores, nested joins, several calling threads) the job runs on the
//! joining thread, which gives the same result: the kernels' shards fix every result bit.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// A job as a helper sees it: `b` of a `join`, shared while the joining thread waits.
type Job = &'static (dyn Fn() + Sync);

/// Where a helper's job is.
enum Slot {
    /// Nothing to do: free for a job.
    Idle,
    /// A job handed over, not yet taken.
    Lent(Job),
    /// The helper runs the job.
    Running,
    /// The job returned, or panicked with this payload; the lender has not taken it back.
    Done(Option<Box<dyn Any + Send>>),
}

struct Helper {
    slot: Mutex<Slot>,
    /// Signalled at every change of `slot`, for whichever of the helper and the lender waits.
    changed: Condvar,
    /// Whether `slot` holds `Lent`, and whether it holds `Done`, written under its lock: what
    /// the helper and the lender spin on before they sleep.
    lent: AtomicBool,
    done: AtomicBool,
}

/// How long a helper waits for its next job, and a lender for its job's end, before sleeping:
/// the passes of a training step follow each other within microseconds, and waking a sleeping
/// thread takes tens of them on a busy machine.
const SPIN: Duration = Duration::from_micros(100);

/// Spins until `flag` is set or [`SPIN`] has passed.
fn spin_until(flag: &AtomicBool) {
    let start = Instant::now();
    while !flag.load(Ordering::Relaxed) && start.elapsed() < SPIN {
        (0..64).for_each(|_| core::hint::spin_loop());
    }
}

/// Locks `slot`: no thread panics while holding it (jobs run outside the lock), so a poisoned
/// lock still holds a consistent slot.
fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Helper {
    fn new() -> Helper {
        let (lent, done) = (AtomicBool::new(false), AtomicBool::new(false));
        Helper { slot: Mutex::new(Slot::Idle), changed: Condvar::new(), lent, done }
    }

    /// Lends `job` if this helper is idle.
    fn lend(&self, job: Job) -> bool {
        let mut slot = lock(&self.slot);
        if !matches!(*slot, Slot::Idle) {
            return false;
        }
        *slot = Slot::Lent(job);
        self.lent.store(true, Ordering::Relaxed);
        drop(slot);
        self.changed.notify_all();
        true
    }

    /// Waits until the lent job has returned, frees the slot and returns the job's panic.
    fn take_back(&self) -> Option<Box<dyn Any + Send>> {
        spin_until(&self.done);
        let mut slot = lock(&self.slot);
        loop {
            match core::mem::replace(&mut *slot, Slot::Idle) {
                Slot::Done(panic) => {
                    self.done.store(false, Ordering::Relaxed);
                    return panic;
                }
                other => *slot = other,
            }
            slot = self.changed.wait(slot).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The helper thread: runs each job lent to it, outside the lock.
    fn serve(&self) {
        loop {
            spin_until(&self.lent);
            let mut slot = lock(&self.slot);
            let job = loop {
                if let Slot::Lent(job) = *slot {
                    break job;
                }
                slot = self.changed.wait(slot).unwrap_or_else(PoisonError::into_inner);
            };
            *slot = Slot::Running;
            self.lent.store(false, Ordering::Relaxed);
            drop(slot);
            let panic = catch_unwind(AssertUnwindSafe(job)).err();
            let mut slot = lock(&self.slot);
            *slot = Slot::Done(panic);
            self.done.store(true, Ordering::Relaxed);
            drop(slot);
            self.changed.notify_all();
        }
    }
}

/// The cores this process may use (at least 1), read once: the query reads files.
pub(super) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The helpers that started, `cores() - 1` of them unless the system refused a thread.
fn helpers() -> &'static [Helper] {
    static HELPERS: OnceLock<&'static [Helper]> = OnceLock::new();
    HELPERS.get_or_init(|| {
        let slots = (1..cores()).map(|_| Helper::new());
        // Leaked on purpose: the helpers serve until the process ends.
        let helpers: &'static [Helper] = Vec::leak(slots.collect());
        let started = helpers.iter().enumerate().take_while(|&(i, helper)| {
            let thread = std::thread::Builder::new().name(format!("netspec-helper-{i}"));
            thread.spawn(move || helper.serve()).is_ok()
        });
        &helpers[..started.count()]
    })
}

/// Takes a lent job back when dropped, so that the job's borrows end before `join` returns
/// or unwinds.
struct Loan(Option<&'static Helper>);

impl Loan {
    fn take_back(mut self) -> Option<Box<dyn Any + Send>> {
        self.0.take().and_then(Helper::take_back)
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        // Only when `a` unwinds: its panic goes on, `b`'s (if any) is dropped.
        if let Some(helper) = self.0.take() {
            drop(helper.take_back());
        }
    }
}

/// Runs `a` on the calling thread and `b` on an idle helper, or both here when none is idle;
/// returns when both have returned and resumes a panic of either (`a`'s first).
pub(super) fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    let b = Mutex::new(Some(b));
    let job = || {
        let b = b.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(b) = b {
            b();
        }
    };
    let job: &(dyn Fn() + Sync) = &job;
    // SAFETY: only the lifetime changes. A helper uses `job` between taking it from its slot
    // and setting the slot to `Done`; the `Loan` below takes it back (waits for `Done` under
    // the slot's lock) before this function returns, and its `Drop` does so when `a` unwinds.
    // So `job`, `b` and everything they borrow outlive every use. A job no helper took is
    // never used by one.
    #[allow(unsafe_code)]
    let job: Job = unsafe { core::mem::transmute::<&(dyn Fn() + Sync), Job>(job) };
    let Some(helper) = helpers().iter().find(|helper| helper.lend(job)) else {
        a();
        return job();
    };
    let loan = Loan(Some(helper));
    a();
    if let Some(panic) = loan.take_back() {
        resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn on_helper() -> bool {
        std::thread::current().name().is_some_and(|name| name.starts_with("netspec-helper-"))
    }

    /// Repeats `attempt` (which says whether its join's `b` ran on a helper) until one did, for
    /// up to 10 s: tests running in parallel may hold the helpers for a while. Asserts that one
    /// did exactly when this machine has a second core.
    fn until_lent(mut attempt: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let lent = loop {
            match attempt() {
                true => break true,
                false if cores() == 1 || std::time::Instant::now() > deadline => break false,
                false => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        };
        assert_eq!(lent, cores() > 1, "b went to a helper on a machine of {} cores", cores());
        assert_eq!(helpers().len(), cores() - 1);
    }

    #[test]
    fn join_runs_both_closures_and_lends_b_to_an_idle_helper() {
        until_lent(|| {
            let (mut left, mut right) = (0, None);
            join(|| left = 1, || right = Some(on_helper()));
            assert_eq!((left, right.is_some()), (1, true), "both closures ran");
            right == Some(true)
        });
    }

    #[test]
    fn a_panic_in_b_reaches_the_caller_and_the_helper_serves_on() {
        until_lent(|| {
            let lent = AtomicBool::new(false);
            let joined = catch_unwind(AssertUnwindSafe(|| {
                join(
                    || (),
                    || {
                        lent.store(on_helper(), Ordering::Relaxed);
                        panic!("from b");
                    },
                );
            }));
            let message = joined.expect_err("b's panic").downcast::<&str>().map(|m| *m);
            assert_eq!(message.ok(), Some("from b"));
            lent.load(Ordering::Relaxed)
        });
        join_runs_both_closures_and_lends_b_to_an_idle_helper();
    }

    /// `join` unwinds from `a`'s panic only after a lent `b` has returned: `b` borrows from
    /// the caller's stack.
    #[test]
    fn a_panic_in_a_waits_for_the_lent_b() {
        until_lent(|| {
            let (lent, finished) = (AtomicBool::new(false), AtomicBool::new(false));
            let joined = catch_unwind(AssertUnwindSafe(|| {
                join(
                    || panic!("from a"),
                    || {
                        lent.store(on_helper(), Ordering::Relaxed);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        finished.store(true, Ordering::Relaxed);
                    },
                );
            }));
            assert!(joined.is_err(), "a's panic reached the caller");
            let lent = lent.load(Ordering::Relaxed);
            assert!(!lent || finished.load(Ordering::Relaxed), "join unwound while b ran");
            lent
        });
    }

    /// Sums `0..n` through a tree of joins.
    fn tree_sum(range: core::ops::Range<u64>) -> u64 {
        if range.end - range.start <= 64 {
            return range.sum();
        }
        let mid = range.start + (range.end - range.start) / 2;
        let (left, right) = (AtomicU64::new(0), AtomicU64::new(0));
        join(
            || left.store(tree_sum(range.start..mid), Ordering::Relaxed),
            || right.store(tree_sum(mid..range.end), Ordering::Relaxed),
        );
        left.into_inner() + right.into_inner()
    }

    /// Nested joins from several threads at once compete for the helpers: every one finishes
    /// with the right result.
    #[test]
    fn nested_joins_from_several_threads_finish() {
        std::thread::scope(|scope| {
            let sums: Vec<_> = (0..4).map(|_| scope.spawn(|| tree_sum(0..100_000))).collect();
            for sum in sums {
                assert_eq!(sum.join().expect("no panic"), 100_000 * 99_999 / 2);
            }
        });
    }
}
