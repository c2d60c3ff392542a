//! A bound on live `claude` processes, shared by every chat.
//!
//! Why it exists: each chat keeps its process warm between turns (~174 MiB each with the real
//! CLI), so without a cap 200 active chats would need ~35 GiB. A process holds a [`Slot`] from
//! before it is spawned until after it has exited (the slot is dropped after the shutdown
//! completes), so the number of slots handed out bounds the live processes.
//!
//! When every slot is taken, a request waits in one FIFO queue over all chats (its position is
//! reported), and the least-recently-used *idle* holder is asked to give its slot back (the
//! `evict` callback; the chat stops its warm process exactly as the idle reaper does, and its
//! next message resumes the session). A busy holder is never asked: a turn in flight is never
//! cut short. If the asked holder became busy in between, it simply does not answer, and the
//! next idle holder is asked instead.
//!
//! Unattended runs (webhooks, scheduled jobs) wait in the same line through [`Pool::wait_busy`]:
//! their slot is busy from start to end, so it is never asked back, and it is given back when
//! the run's future ends — finished, failed, cancelled or unwound by a panic alike.
//!
//! The pool decides under a mutex and calls back (grant, evict) after releasing it, so a
//! callback may drop a slot (a chat that went away) without deadlocking.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Evict = Arc<dyn Fn(u64) + Send + Sync>;
type Grant = Box<dyn FnOnce(Slot) + Send>;

/// The shared bound (see the module doc).
pub struct Pool {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    holders: HashMap<u64, Holder>,
    waiters: VecDeque<Waiter>,
}

struct Holder {
    /// Since when the process has been idle (`None`: busy).
    idle_since: Option<Instant>,
    /// Asked to give the slot back (or already giving it back): counts as soon free.
    freeing: bool,
    evict: Evict,
}

struct Waiter {
    id: u64,
    evict: Evict,
    grant: Grant,
}

/// The right to one live process; given back on drop.
pub struct Slot {
    pool: Arc<Pool>,
    id: u64,
}

/// The answer to [`Pool::acquire`].
pub enum Acquire {
    /// A slot was free.
    Now(Slot),
    /// Queued: `grant` will be called with the slot; `position` counts from 1.
    Queued { ticket: u64, position: usize },
}

enum Action {
    Grant(Grant, Slot),
    Evict(Evict, u64),
}

impl Pool {
    pub fn new(max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Slots handed out (live processes, plus ones being spawned or shutting down).
    pub fn in_use(&self) -> usize {
        self.lock().holders.len()
    }

    /// Requests waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// A slot that is never idle (an unattended run holds it from before its process starts
    /// until after it has exited): now, or after everyone already in line. `queued` is told
    /// the position when it has to wait. Dropping the future leaves the line (a slot granted
    /// meanwhile is passed on). `None` only if the request was dropped without a grant.
    pub async fn wait_busy(self: &Arc<Self>, queued: impl FnOnce(usize)) -> Option<Slot> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ticket = match self.acquire(
            |_| {},
            move |slot| {
                // A receiver that is gone drops the slot, which passes it on.
                let _ = tx.send(slot);
            },
        ) {
            Acquire::Now(slot) => return Some(slot),
            Acquire::Queued { ticket, position } => {
                queued(position);
                ticket
            }
        };
        /// Leaves the line if the wait is dropped before the grant.
        struct Leave<'a>(&'a Arc<Pool>, u64);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.cancel(self.1);
            }
        }
        let _leave = Leave(self, ticket);
        rx.await.ok()
    }

    /// Where `ticket` stands in the queue (from 1), if it still waits.
    pub fn position(&self, ticket: u64) -> Option<usize> {
        self.lock()
            .waiters
            .iter()
            .position(|w| w.id == ticket)
            .map(|i| i + 1)
    }

    /// A slot for a new process: now, or later through `grant` (in FIFO order over all
    /// callers). `evict` is how the holder is asked to give the slot back while idle (it gets
    /// the slot's [`Slot::id`]).
    pub fn acquire(
        self: &Arc<Self>,
        evict: impl Fn(u64) + Send + Sync + 'static,
        grant: impl FnOnce(Slot) + Send + 'static,
    ) -> Acquire {
        let evict: Evict = Arc::new(evict);
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        if inner.waiters.is_empty() && inner.holders.len() < self.max {
            inner.holders.insert(id, Holder::busy(evict));
            return Acquire::Now(Slot {
                pool: self.clone(),
                id,
            });
        }
        inner.waiters.push_back(Waiter {
            id,
            evict,
            grant: Box::new(grant),
        });
        let position = inner.waiters.len();
        let actions = self.rebalance(&mut inner);
        drop(inner);
        run(actions);
        Acquire::Queued {
            ticket: id,
            position,
        }
    }

    /// Give up waiting (the grant is dropped, never called).
    pub fn cancel(self: &Arc<Self>, ticket: u64) {
        let mut inner = self.lock();
        let gone = inner
            .waiters
            .iter()
            .position(|w| w.id == ticket)
            .and_then(|i| inner.waiters.remove(i));
        let actions = self.rebalance(&mut inner);
        drop(inner);
        drop(gone);
        run(actions);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(self: &Arc<Self>, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.lock();
        f(&mut inner);
        let actions = self.rebalance(&mut inner);
        drop(inner);
        run(actions);
    }

    /// Hand free slots to the first waiters, then ask as many idle holders (least recently
    /// used first) as there are waiters not yet covered by a slot being freed.
    fn rebalance(self: &Arc<Self>, inner: &mut Inner) -> Vec<Action> {
        let mut actions = Vec::new();
        while inner.holders.len() < self.max {
            let Some(w) = inner.waiters.pop_front() else {
                break;
            };
            inner.holders.insert(w.id, Holder::busy(w.evict));
            let slot = Slot {
                pool: self.clone(),
                id: w.id,
            };
            actions.push(Action::Grant(w.grant, slot));
        }
        let freeing = inner.holders.values().filter(|h| h.freeing).count();
        for _ in freeing..inner.waiters.len() {
            let lru = inner
                .holders
                .iter_mut()
                .filter(|(_, h)| !h.freeing && h.idle_since.is_some())
                .min_by_key(|(_, h)| h.idle_since);
            let Some((id, h)) = lru else {
                break;
            };
            h.freeing = true;
            actions.push(Action::Evict(h.evict.clone(), *id));
        }
        actions
    }
}

fn run(actions: Vec<Action>) {
    for a in actions {
        match a {
            Action::Grant(grant, slot) => grant(slot),
            Action::Evict(evict, id) => evict(id),
        }
    }
}

impl Holder {
    fn busy(evict: Evict) -> Self {
        Holder {
            idle_since: None,
            freeing: false,
            evict,
        }
    }
}

impl Slot {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The process is between turns (`true`; evictable, least recently used first) or running
    /// a turn (`false`; never evicted — a pending eviction request is void).
    pub fn set_idle(&self, idle: bool) {
        let id = self.id;
        let already = self
            .pool
            .lock()
            .holders
            .get(&id)
            .map(|h| h.idle_since.is_some() == idle);
        if already != Some(false) {
            return; // unchanged: no need to rebalance
        }
        self.pool.update(|inner| {
            if let Some(h) = inner.holders.get_mut(&id) {
                if idle {
                    h.idle_since = Some(Instant::now());
                } else {
                    h.idle_since = None;
                    h.freeing = false;
                }
            }
        });
    }

    /// The process is being stopped: the slot comes back soon, no other holder need be asked.
    pub fn retiring(&self) {
        let id = self.id;
        self.pool.update(|inner| {
            if let Some(h) = inner.holders.get_mut(&id) {
                h.freeing = true;
            }
        });
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let id = self.id;
        self.pool.update(|inner| {
            inner.holders.remove(&id);
        });
    }
}

/// The default bound: available memory / 256 MiB, clamped to 2..=64 (`meminfo` is the text of
/// `/proc/meminfo`; without a `MemAvailable` line, 8).
pub fn default_max(meminfo: &str) -> usize {
    let kib = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemAvailable:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    });
    match kib {
        Some(kib) => (kib / (256 * 1024)).clamp(2, 64) as usize,
        None => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Arc<AtomicUsize>, impl Fn(u64) + Send + Sync + 'static) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (n, move |_| {
            m.fetch_add(1, Ordering::SeqCst);
        })
    }

    fn granted() -> (Arc<Mutex<Option<Slot>>>, impl FnOnce(Slot) + Send + 'static) {
        let cell = Arc::new(Mutex::new(None));
        let c = cell.clone();
        (cell, move |s| *c.lock().unwrap() = Some(s))
    }

    fn now(a: Acquire) -> Slot {
        match a {
            Acquire::Now(s) => s,
            Acquire::Queued { .. } => panic!("expected a free slot"),
        }
    }

    #[test]
    fn a_full_pool_queues_fifo_and_evicts_the_least_recently_used_idle_holder() {
        let pool = Pool::new(2);
        let (ev_a, fa) = counter();
        let (ev_b, fb) = counter();
        let a = now(pool.acquire(fa, |_| {}));
        let b = now(pool.acquire(fb, |_| {}));
        b.set_idle(true);
        std::thread::sleep(std::time::Duration::from_millis(2));
        a.set_idle(true);
        // C waits; b (idle longest) is asked, a is not.
        let (c_slot, gc) = granted();
        let Acquire::Queued { ticket, position } = pool.acquire(|_| {}, gc) else {
            panic!("pool is full");
        };
        assert_eq!(position, 1);
        assert_eq!(ev_b.load(Ordering::SeqCst), 1);
        assert_eq!(ev_a.load(Ordering::SeqCst), 0);
        // D waits behind C; now a is asked too.
        let (d_slot, gd) = granted();
        let Acquire::Queued { position, .. } = pool.acquire(|_| {}, gd) else {
            panic!("pool is full");
        };
        assert_eq!(position, 2);
        assert_eq!(ev_a.load(Ordering::SeqCst), 1);
        assert_eq!(pool.position(ticket), Some(1));
        // b gives its slot back: C (first) gets it, D still waits.
        drop(b);
        assert!(c_slot.lock().unwrap().is_some());
        assert!(d_slot.lock().unwrap().is_none());
        assert_eq!(pool.in_use(), 2);
        drop(a);
        assert!(d_slot.lock().unwrap().is_some());
        assert_eq!(pool.waiting(), 0);
    }

    #[test]
    fn a_busy_holder_is_never_asked_and_a_void_request_moves_to_the_next_idle_one() {
        let pool = Pool::new(2);
        let (ev_a, fa) = counter();
        let (ev_b, fb) = counter();
        let a = now(pool.acquire(fa, |_| {}));
        let b = now(pool.acquire(fb, |_| {}));
        let (c_slot, gc) = granted();
        assert!(matches!(pool.acquire(|_| {}, gc), Acquire::Queued { .. }));
        assert_eq!(ev_a.load(Ordering::SeqCst) + ev_b.load(Ordering::SeqCst), 0);
        a.set_idle(true);
        assert_eq!(ev_a.load(Ordering::SeqCst), 1);
        // a got a new turn before giving the slot back: b is asked when it becomes idle.
        a.set_idle(false);
        assert_eq!(ev_b.load(Ordering::SeqCst), 0);
        b.set_idle(true);
        assert_eq!(ev_b.load(Ordering::SeqCst), 1);
        assert!(c_slot.lock().unwrap().is_none());
        drop(b);
        assert!(c_slot.lock().unwrap().is_some());
        assert_eq!(ev_a.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_retiring_slot_covers_a_waiter_and_cancel_leaves_the_queue() {
        let pool = Pool::new(1);
        let (ev_a, fa) = counter();
        let a = now(pool.acquire(fa, |_| {}));
        a.set_idle(true);
        a.retiring();
        let (x, gx) = granted();
        let Acquire::Queued { ticket, .. } = pool.acquire(|_| {}, gx) else {
            panic!("pool is full");
        };
        assert_eq!(ev_a.load(Ordering::SeqCst), 0, "already being freed");
        pool.cancel(ticket);
        assert_eq!(pool.waiting(), 0);
        drop(a);
        assert!(x.lock().unwrap().is_none());
        assert_eq!(pool.in_use(), 0);
        let _b = now(pool.acquire(|_| {}, |_| {}));
    }

    #[test]
    fn a_grant_to_a_caller_that_is_gone_passes_the_slot_on() {
        let pool = Pool::new(1);
        let a = now(pool.acquire(|_| {}, |_| {}));
        // The first waiter drops its slot at once (its chat went away).
        assert!(matches!(pool.acquire(|_| {}, drop), Acquire::Queued { .. }));
        let (y, gy) = granted();
        assert!(matches!(pool.acquire(|_| {}, gy), Acquire::Queued { .. }));
        drop(a);
        assert!(y.lock().unwrap().is_some());
        assert_eq!(pool.in_use(), 1);
    }

    #[tokio::test]
    async fn a_busy_wait_queues_in_line_is_never_asked_back_and_leaves_the_line_when_dropped() {
        let pool = Pool::new(1);
        let (ev_a, fa) = counter();
        let a = now(pool.acquire(fa, |_| {}));
        a.set_idle(true);
        // The waiting run asks the idle chat for its slot and gets it once it is given back.
        let told = std::cell::Cell::new(None);
        let run = tokio::spawn({
            let pool = pool.clone();
            async move { pool.wait_busy(|_| {}).await }
        });
        let first = pool.wait_busy(|p| told.set(Some(p)));
        tokio::pin!(first);
        assert!(futures_poll(&mut first).await.is_none(), "the pool is full");
        assert_eq!(told.get(), Some(1));
        while pool.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            ev_a.load(Ordering::SeqCst),
            1,
            "the idle holder is asked once per slot"
        );
        drop(a);
        let slot = first.await.expect("granted first in line");
        // A busy holder is never asked back, even with someone waiting.
        assert_eq!(pool.waiting(), 1);
        assert_eq!(pool.in_use(), 1);
        drop(slot);
        let second = run.await.unwrap().expect("granted next");
        // A wait dropped before its grant leaves the line.
        let mut gone = Box::pin(pool.wait_busy(|_| {}));
        assert!(futures_poll(&mut gone).await.is_none());
        assert_eq!(pool.waiting(), 1);
        drop(gone);
        assert_eq!(pool.waiting(), 0);
        drop(second);
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn a_run_that_panics_gives_its_slot_to_the_next_in_line() {
        let pool = Pool::new(1);
        let crashed = tokio::spawn({
            let pool = pool.clone();
            async move {
                let _slot = pool.wait_busy(|_| {}).await;
                tokio::task::yield_now().await;
                panic!("the run failed");
            }
        });
        let (next, gn) = granted();
        while pool.in_use() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.acquire(|_| {}, gn), Acquire::Queued { .. }));
        assert!(crashed.await.unwrap_err().is_panic());
        assert!(next.lock().unwrap().is_some(), "the slot was passed on");
    }

    /// Poll `f` once: `Some` if it finished.
    async fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn the_default_is_available_memory_over_256_mib_clamped() {
        let info = |kib: u64| format!("MemTotal: 99 kB\nMemAvailable:   {kib} kB\n");
        assert_eq!(default_max(&info(24 * 1024 * 1024)), 64);
        assert_eq!(default_max(&info(4 * 1024 * 1024)), 16);
        assert_eq!(default_max(&info(100 * 1024)), 2);
        assert_eq!(default_max("MemTotal: 1 kB\n"), 8);
    }
}
