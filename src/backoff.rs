//! One retry delay for every loop that waits after a failure (polling, sending, durable
//! delivery).
//!
//! Why one type: three hand-rolled doublings had drifted (different caps, no jitter). Without
//! jitter every chat whose send failed at the same moment retries at the same moment again,
//! which is exactly the burst that made Telegram refuse the first time. This is exponential
//! backoff with "equal jitter": each delay is half the current step plus a random part of the
//! other half, so retries spread out but never come sooner than half the step.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter: `base`, then doubling up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        let base = base.max(Duration::from_millis(1));
        Backoff {
            base,
            max: max.max(base),
            step: base,
        }
    }

    /// The delay before the next attempt (in `[step/2, step]`); the step then doubles.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let spread = (step - half).as_micros() as u64;
        half + Duration::from_micros(rand::rng().random_range(0..=spread))
    }

    /// Back to `base` after a success.
    pub fn reset(&mut self) {
        self.step = self.base;
    }

    /// Wait [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let steps = [100, 200, 400, 800, 800, 800];
        for step in steps {
            let d = b.next_delay();
            let step = Duration::from_millis(step);
            assert!(
                d >= step / 2 && d <= step,
                "{d:?} outside [{:?}, {step:?}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn delays_are_spread_not_identical() {
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(delays.len() > 10, "jitter missing: {delays:?}");
    }
}
