//! Telegram's flood limits, kept exactly: what counts, against which limit, and when the next
//! call may go.
//!
//! Why it exists: Telegram documents about 30 messages per second overall, one message per
//! second in a chat and 20 per minute in a group, and answers excess with 429s — without saying
//! how bursts are judged. A token bucket (the previous `governor` quotas) lets a full bucket
//! through on top of the rate: 30 calls at once, then 30 more in the same second. So every
//! limit here is a sliding window — *at most N calls in any window of W* — which is the
//! documented limit read literally, and never more.
//!
//! What is counted (the same rules as the strict fake Bot API in the tests):
//!
//! * a **message** — `sendMessage`, `editMessageText` (edits are flood-controlled like sends):
//!   the chat's window (1 per second), the group's window (20 per minute, chats with a
//!   negative id) and the global window;
//! * **other calls** — `sendChatAction`, `deleteMessage`, `answerCallbackQuery`: the global
//!   window only (a typing indicator or a removal is not a message in the chat);
//! * **global** — at most 30 of all the above in any second. Polling and start-up calls
//!   (`getUpdates`, `getMe`, `setMyCommands`, webhooks) are not counted.
//!
//! A slot is taken only at the moment the call is sent, for all its windows at once: a lane
//! first waits until its chat is free (without holding anything), then queues for the global
//! window (FIFO, so 200 busy chats are served in turn and a rate-limited chat never holds up
//! another), then re-checks its chat and takes every window in the same instant. (Taking the
//! chat's token before waiting for the global one let two messages of a chat go out less
//! than a second apart.) A 429's `retry_after` pauses the chat's messages for that long.
//!
//! **When a call counts.** Telegram counts a call when it *arrives*; ccgate only knows when it
//! sent it and when the answer came back. Arrival lies between the two, and on a loaded machine
//! or a new connection the gap is hundreds of milliseconds, so requests sent a second apart can
//! arrive closer (measured: a fixed 50 ms margin still let 2 of 5 loaded 200-chat benches get
//! 429s). So a slot is held by a [`Permit`] while its call is in flight and is stamped with the
//! moment the answer returned (the permit's drop): the next call that needs that slot is sent
//! at least a window after the answer, hence arrives at least a window after the earlier call
//! arrived, whatever the jitter. A slot whose call is still in flight is never reused; waiters
//! are woken when it returns. Each window is also `SEND_MARGIN` longer than Telegram's, for
//! clocks and counting we cannot see.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

use tokio::sync::Notify;

/// Added to every window, for what completion stamps cannot cover (Telegram's own clocks and
/// rounding). Jitter on the way there is covered by stamping at completion (module docs).
const SEND_MARGIN: Duration = Duration::from_millis(20);

/// Telegram's documented limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_chat_per_second: u32,
    pub per_group_per_minute: u32,
    pub global_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_chat_per_second: 1,
            per_group_per_minute: 20,
            global_per_second: 30,
        }
    }
}

const SECOND: Duration = Duration::from_millis(1000 + SEND_MARGIN.as_millis() as u64);
const MINUTE: Duration = Duration::from_millis(60_000 + SEND_MARGIN.as_millis() as u64);

/// One counted call: when it was sent, or — once its answer is back — when that happened.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    id: u64,
    at: Instant,
    in_flight: bool,
}

/// When one more call fits in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreeAt {
    At(Instant),
    /// The slot it needs belongs to a call still in flight: wait for it to return.
    Returned,
}

impl FreeAt {
    fn max(self, other: FreeAt) -> FreeAt {
        match (self, other) {
            (FreeAt::At(a), FreeAt::At(b)) => FreeAt::At(a.max(b)),
            _ => FreeAt::Returned,
        }
    }

    fn max_at(self, t: Instant) -> FreeAt {
        self.max(FreeAt::At(t))
    }
}

/// At most `max` calls in any `span`: the stamps of the last calls, returned ones first (in
/// time order), calls in flight after them.
#[derive(Debug)]
struct Window {
    max: usize,
    span: Duration,
    log: VecDeque<Stamp>,
}

impl Window {
    fn new(max: u32, span: Duration) -> Window {
        Window {
            max: max.max(1) as usize,
            span,
            log: VecDeque::new(),
        }
    }

    /// The earliest instant (≥ `now`) at which one more call fits.
    fn free_at(&mut self, now: Instant) -> FreeAt {
        while self
            .log
            .front()
            .is_some_and(|s| !s.in_flight && now.saturating_duration_since(s.at) >= self.span)
        {
            self.log.pop_front();
        }
        if self.log.len() < self.max {
            return FreeAt::At(now);
        }
        let oldest_needed = self.log[self.log.len() - self.max];
        if oldest_needed.in_flight {
            FreeAt::Returned
        } else {
            FreeAt::At(oldest_needed.at + self.span)
        }
    }

    fn take(&mut self, id: u64, now: Instant) {
        self.log.push_back(Stamp {
            id,
            at: now,
            in_flight: true,
        });
        while self.log.len() > self.max && self.log.front().is_some_and(|s| !s.in_flight) {
            self.log.pop_front();
        }
    }

    /// The call `id` came back at `now`: restamp it and keep the order (every returned stamp
    /// is ≤ `now`, so it goes right after them, before the calls still in flight).
    fn returned(&mut self, id: u64, now: Instant) {
        let Some(i) = self.log.iter().position(|s| s.id == id) else {
            return;
        };
        let Some(mut s) = self.log.remove(i) else {
            return;
        };
        s.at = now;
        s.in_flight = false;
        let pos = self.log.iter().take_while(|s| !s.in_flight).count();
        self.log.insert(pos, s);
    }

    fn idle(&self, now: Instant) -> bool {
        self.log
            .back()
            .is_none_or(|s| !s.in_flight && now.saturating_duration_since(s.at) >= self.span)
    }
}

/// One chat's windows.
#[derive(Debug)]
struct ChatWindows {
    chat: Window,
    /// Only for groups (negative ids).
    group: Option<Window>,
    /// From a 429's `retry_after`.
    paused_until: Option<Instant>,
}

#[derive(Debug)]
struct Windows {
    limits: Limits,
    global: Window,
    /// A third of the global limit per third of a second: the second's calls are spread over
    /// it instead of leaving in one burst, whose requests (on new connections) would reach
    /// Telegram spread out and crowd the next second's.
    global_third: Window,
    chats: HashMap<i64, ChatWindows>,
    next_id: u64,
}

impl Windows {
    fn global_free_at(&mut self, now: Instant) -> FreeAt {
        self.global.free_at(now).max(self.global_third.free_at(now))
    }

    fn take_global(&mut self, id: u64, now: Instant) {
        self.global.take(id, now);
        self.global_third.take(id, now);
    }

    fn chat(&mut self, chat: i64) -> &mut ChatWindows {
        let l = self.limits;
        self.chats.entry(chat).or_insert_with(|| ChatWindows {
            chat: Window::new(l.per_chat_per_second, SECOND),
            group: (chat < 0).then(|| Window::new(l.per_group_per_minute, MINUTE)),
            paused_until: None,
        })
    }

    fn chat_free_at(&mut self, chat: i64, now: Instant) -> FreeAt {
        let c = self.chat(chat);
        let mut at = c.chat.free_at(now);
        if let Some(g) = c.group.as_mut() {
            at = at.max(g.free_at(now));
        }
        if let Some(p) = c.paused_until {
            at = at.max_at(p);
        }
        at
    }

    /// Forget chats with nothing left in their windows (keeps the map small).
    fn prune(&mut self, now: Instant) {
        if self.chats.len() > 256 {
            self.chats.retain(|_, c| {
                !(c.chat.idle(now)
                    && c.group.as_ref().is_none_or(|g| g.idle(now))
                    && c.paused_until.is_none_or(|p| p <= now))
            });
        }
    }

    fn returned(&mut self, id: u64, slot: Slot, now: Instant) {
        self.global.returned(id, now);
        self.global_third.returned(id, now);
        if let Slot::Message(chat) = slot {
            if let Some(c) = self.chats.get_mut(&chat) {
                c.chat.returned(id, now);
                if let Some(g) = c.group.as_mut() {
                    g.returned(id, now);
                }
            }
        }
    }
}

/// What a call counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A message sent or edited in this chat.
    Message(i64),
    /// Any other counted call (chat action, delete, callback answer).
    Other,
}

/// The limiter shared by every lane and call of the outbox.
pub struct Limiter {
    windows: Mutex<Windows>,
    /// The queue for the global window (tokio's mutex is fair: first come, first served).
    global_queue: tokio::sync::Mutex<()>,
    /// Woken whenever a call in flight returns (its slots get their final stamps).
    returned: Notify,
}

/// A counted call in flight. Make the call while holding it and drop it when the answer (or
/// the error) is back: that moment is when its slots start to expire.
#[must_use = "drop the permit when the call's answer is back"]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    id: u64,
    slot: Slot,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limiter
            .windows()
            .returned(self.id, self.slot, Instant::now());
        self.limiter.returned.notify_waiters();
    }
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            windows: Mutex::new(Windows {
                limits,
                global: Window::new(limits.global_per_second, SECOND),
                global_third: Window::new(
                    limits.global_per_second.div_ceil(3),
                    Duration::from_millis(333 + SEND_MARGIN.as_millis() as u64),
                ),
                chats: HashMap::new(),
                next_id: 0,
            }),
            global_queue: tokio::sync::Mutex::new(()),
            returned: Notify::new(),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until `free` says a call fits now.
    async fn wait_until_free(&self, mut free: impl FnMut(&mut Windows, Instant) -> FreeAt) {
        loop {
            // Registered before looking, so a return between the look and the wait wakes us.
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let at = free(&mut self.windows(), now);
            match at {
                FreeAt::At(t) if t <= now => return,
                FreeAt::At(t) => tokio::time::sleep_until(t).await,
                FreeAt::Returned => notified.await,
            }
        }
    }

    /// Wait until one more call of this kind is within every limit, and count it: send it
    /// right after, and drop the permit when its answer is back.
    pub async fn acquire(&self, slot: Slot) -> Permit<'_> {
        loop {
            if let Slot::Message(chat) = slot {
                self.wait_until_free(|w, now| w.chat_free_at(chat, now))
                    .await;
            }
            let _turn = self.global_queue.lock().await;
            self.wait_until_free(|w, now| w.global_free_at(now)).await;
            let now = Instant::now();
            let mut w = self.windows();
            if let Slot::Message(chat) = slot {
                // Another lane of the same chat (a forum topic) may have taken it meanwhile.
                if w.chat_free_at(chat, now) != FreeAt::At(now) {
                    continue;
                }
            }
            return self.take(&mut w, slot, now);
        }
    }

    fn take(&self, w: &mut Windows, slot: Slot, now: Instant) -> Permit<'_> {
        w.next_id += 1;
        let id = w.next_id;
        if let Slot::Message(chat) = slot {
            let c = w.chat(chat);
            c.chat.take(id, now);
            if let Some(g) = c.group.as_mut() {
                g.take(id, now);
            }
            w.prune(now);
        }
        w.take_global(id, now);
        Permit {
            limiter: self,
            id,
            slot,
        }
    }

    /// Count a call only if it can go right now without waiting for anyone (for the typing
    /// indicator: when the bot is busy, answers matter more, and typing repeats anyway).
    pub fn try_acquire_other(&self) -> Option<Permit<'_>> {
        let _turn = self.global_queue.try_lock().ok()?;
        let now = Instant::now();
        let mut w = self.windows();
        if w.global_free_at(now) != FreeAt::At(now) {
            return None;
        }
        Some(self.take(&mut w, Slot::Other, now))
    }

    /// Telegram answered 429 for a message to `chat`: no message to it before `retry_after`.
    pub fn pause_chat(&self, chat: i64, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut w = self.windows();
        let c = w.chat(chat);
        c.paused_until = Some(c.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `max + 1` consecutive times span at least `span`: no window holds more than `max`.
    fn assert_window(times: &[Instant], max: usize, span: Duration) {
        for w in times.windows(max + 1) {
            let d = w[max] - w[0];
            assert!(d >= span, "{} calls within {d:?}", max + 1);
        }
    }

    #[tokio::test]
    async fn global_window_never_holds_more_than_the_limit() {
        let l = Limiter::new(Limits {
            per_chat_per_second: 1000,
            per_group_per_minute: 1000,
            global_per_second: 10,
        });
        let t0 = Instant::now();
        let mut times = Vec::new();
        for i in 0..25 {
            drop(l.acquire(Slot::Message(i)).await);
            times.push(Instant::now());
        }
        // A third of them go at once, the rest spread over the second...
        assert!(
            times[3] - t0 < Duration::from_millis(100),
            "{:?}",
            times[3] - t0
        );
        assert_window(&times, 4, Duration::from_millis(333));
        // ...and never ten more in the same second, as a token bucket would allow.
        assert_window(&times, 10, Duration::from_secs(1));
        assert!(times[24] - t0 >= Duration::from_secs(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_lanes_at_once_stay_within_the_global_window() {
        let l = std::sync::Arc::new(Limiter::new(Limits {
            per_chat_per_second: 1,
            per_group_per_minute: 20,
            global_per_second: 20,
        }));
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for chat in 0..30 {
            let (l, times) = (l.clone(), times.clone());
            tasks.push(tokio::spawn(async move {
                for slot in [Slot::Message(chat), Slot::Other, Slot::Message(chat)] {
                    drop(l.acquire(slot).await);
                    times.lock().unwrap().push((Instant::now(), slot));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut all = times.lock().unwrap().clone();
        all.sort_by_key(|(t, _)| *t);
        assert_eq!(all.len(), 90);
        let instants: Vec<Instant> = all.iter().map(|(t, _)| *t).collect();
        assert_window(&instants, 20, Duration::from_secs(1));
        for chat in 0..30 {
            let mine: Vec<Instant> = all
                .iter()
                .filter(|(_, s)| *s == Slot::Message(chat))
                .map(|(t, _)| *t)
                .collect();
            assert_window(&mine, 1, Duration::from_secs(1));
        }
    }

    #[tokio::test]
    async fn one_message_per_second_per_chat_and_other_calls_do_not_count_in_the_chat() {
        let l = Limiter::new(Limits::default());
        drop(l.acquire(Slot::Message(7)).await);
        let t = Instant::now();
        // A typing indicator or a delete does not wait for the chat's slot.
        drop(l.acquire(Slot::Other).await);
        assert!(l.try_acquire_other().is_some());
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // Another chat neither.
        drop(l.acquire(Slot::Message(8)).await);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        drop(l.acquire(Slot::Message(7)).await);
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn group_window_is_twenty_per_minute() {
        let l = Limiter::new(Limits {
            per_chat_per_second: 1000,
            per_group_per_minute: 3,
            global_per_second: 1000,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(l.acquire(Slot::Message(-42)).await);
        }
        assert!(t0.elapsed() < Duration::from_millis(100));
        // The fourth waits for the first to leave the minute; a private chat does not.
        let fourth =
            tokio::time::timeout(Duration::from_millis(300), l.acquire(Slot::Message(-42)))
                .await
                .map(drop);
        assert!(fourth.is_err(), "the 4th group message went within 300 ms");
        drop(
            tokio::time::timeout(Duration::from_millis(100), l.acquire(Slot::Message(42)))
                .await
                .expect("a private chat is not held by the group window"),
        );
    }

    #[tokio::test]
    async fn the_chat_slot_is_taken_when_the_global_one_is_so_two_messages_stay_a_second_apart() {
        // Global: 2 per second, both taken; chat 7 wants two messages. The first waits for the
        // global window; the second must wait for both, and is then ≥ 1 s after the first —
        // measured at the moment each call is released, which is when it is sent.
        let l = std::sync::Arc::new(Limiter::new(Limits {
            per_chat_per_second: 1,
            per_group_per_minute: 20,
            global_per_second: 2,
        }));
        let t0 = Instant::now();
        drop(l.acquire(Slot::Other).await);
        drop(l.acquire(Slot::Other).await); // the global window is now full for a second
        drop(l.acquire(Slot::Message(7)).await);
        let first = Instant::now();
        assert!(first - t0 >= Duration::from_millis(900), "{:?}", first - t0);
        drop(l.acquire(Slot::Message(7)).await);
        let second = Instant::now();
        assert!(
            second - first >= Duration::from_secs(1),
            "{:?}",
            second - first
        );
    }

    #[tokio::test]
    async fn busy_global_window_skips_the_typing_indicator_and_retry_after_pauses_the_chat() {
        let l = Limiter::new(Limits {
            per_chat_per_second: 1000,
            per_group_per_minute: 1000,
            global_per_second: 6,
        });
        assert!(l.try_acquire_other().is_some());
        assert!(l.try_acquire_other().is_some());
        assert!(
            l.try_acquire_other().is_none(),
            "the window's third is full"
        );

        let l = Limiter::new(Limits::default());
        l.pause_chat(5, Duration::from_millis(400));
        let t = Instant::now();
        drop(l.acquire(Slot::Message(5)).await);
        assert!(
            t.elapsed() >= Duration::from_millis(350),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_slot_counts_from_when_its_answer_came_back_and_never_expires_in_flight() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut w = Window::new(1, Duration::from_secs(1));
        w.take(1, t0);
        // Sent 2 s ago and not back: Telegram may not have counted it yet.
        assert_eq!(w.free_at(ms(2000)), FreeAt::Returned);
        w.returned(1, ms(2000));
        assert_eq!(w.free_at(ms(2500)), FreeAt::At(ms(3000)));
        assert_eq!(w.free_at(ms(3000)), FreeAt::At(ms(3000)));

        // The next call needs the max-th latest stamp (an upper bound on when that call
        // arrived) to be a window old; answers coming back out of order keep them in order.
        let mut w = Window::new(2, Duration::from_secs(1));
        w.take(1, t0);
        w.take(2, ms(100));
        w.returned(2, ms(200));
        assert_eq!(w.free_at(ms(300)), FreeAt::At(ms(1200)));
        w.returned(1, ms(500));
        assert_eq!(w.free_at(ms(600)), FreeAt::At(ms(1200)));
        w.take(3, ms(1200));
        assert_eq!(w.free_at(ms(1300)), FreeAt::At(ms(1500)));
        w.take(4, ms(1500));
        assert_eq!(
            w.free_at(ms(1600)),
            FreeAt::Returned,
            "3 and 4 are in flight"
        );
        w.returned(4, ms(1700));
        // 3 may arrive any time, but then 4 is the older of the two to count.
        assert_eq!(w.free_at(ms(1800)), FreeAt::At(ms(2700)));
        w.returned(3, ms(1900));
        assert_eq!(w.free_at(ms(2000)), FreeAt::At(ms(2700)));
    }

    #[tokio::test]
    async fn a_chat_message_in_flight_holds_the_chats_next_message() {
        let l = std::sync::Arc::new(Limiter::new(Limits::default()));
        let first = l.acquire(Slot::Message(9)).await;
        let l2 = l.clone();
        let next = tokio::spawn(async move {
            drop(l2.acquire(Slot::Message(9)).await);
            Instant::now()
        });
        // Another chat is not held by it.
        let t = Instant::now();
        drop(l.acquire(Slot::Message(10)).await);
        assert!(t.elapsed() < Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert!(
            !next.is_finished(),
            "chat 9's second message went while its first was in flight"
        );
        let answered = Instant::now();
        drop(first);
        let sent = next.await.unwrap();
        assert!(sent - answered >= SECOND, "{:?}", sent - answered);
    }
}
