//! The one clock. Every piece of code that reads the time takes it from a [`Clock`], carried by
//! the store ([`crate::store::Store::clock`]) and from there by everything that holds one: the
//! pipeline, the outbox worker, the sweeps, the request handlers, the commands.
//!
//! Owns reading the time, and nothing else; deciding what a time means (quiet hours, expiry,
//! store hours) belongs to the modules that use it.
//!
//! Production runs on [`Clock::system`]. Tests pin the time they mean with
//! [`Clock::starting_at`] (it then moves on with the real elapsed time, so retries and leases
//! still come due) and move it with [`Clock::advance`]; they pass on any day.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where the time comes from; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Clock(Arc<Source>);

enum Source {
    System,
    /// A pinned start plus the monotonic time elapsed since, plus manual moves.
    Pinned {
        start_ms: i64,
        since: Instant,
        moved_ms: AtomicI64,
    },
}

impl Clock {
    /// The machine's wall clock.
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    /// A clock that reads `start_ms` now and moves on with real elapsed time.
    pub fn starting_at(start_ms: i64) -> Self {
        Self(Arc::new(Source::Pinned { start_ms, since: Instant::now(), moved_ms: AtomicI64::new(0) }))
    }

    /// Milliseconds since the Unix epoch, the unit of every stored time.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System => system_ms(),
            Source::Pinned { start_ms, since, moved_ms } => {
                let elapsed = i64::try_from(since.elapsed().as_millis()).unwrap_or(i64::MAX / 4);
                start_ms + elapsed + moved_ms.load(Ordering::Relaxed)
            }
        }
    }

    /// Seconds since the Unix epoch (signed links and request timestamps).
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves a pinned clock forward (or back, with a negative `ms`). The system clock cannot be
    /// moved: this panics, as any test that tries has a bug.
    pub fn advance(&self, ms: i64) {
        match &*self.0 {
            Source::System => panic!("the system clock cannot be moved; pin one with Clock::starting_at"),
            Source::Pinned { moved_ms, .. } => {
                moved_ms.fetch_add(ms, Ordering::Relaxed);
            }
        }
    }

    /// Moves a pinned clock so that it reads `at_ms` now.
    pub fn set(&self, at_ms: i64) {
        self.advance(at_ms - self.now_ms());
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Pinned { .. } => write!(f, "Clock::pinned({})", self.now_ms()),
        }
    }
}

fn system_ms() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock is after 1970");
    i64::try_from(now.as_millis()).expect("milliseconds fit in i64 until year 292 million")
}

/// `just now`, `12 min ago`: when something happened, as people read it.
pub fn ago(ms: i64) -> String {
    if ms < 60_000 {
        "just now".to_owned()
    } else {
        format!("{} ago", age(ms))
    }
}

/// `12 min`, `3 h 5 min`, `2 d`: how long something has waited, as people read it.
pub fn age(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_reads_its_start_and_moves_when_told() {
        let clock = Clock::starting_at(1_000_000);
        let first = clock.now_ms();
        assert!((1_000_000..1_060_000).contains(&first), "{first}");
        clock.advance(3_600_000);
        assert!(clock.now_ms() >= first + 3_600_000);
        clock.set(42_000);
        assert!((42_000..43_000).contains(&clock.now_ms()));
        assert_eq!(clock.clone().now_secs(), clock.now_ms() / 1000);
    }

    #[test]
    #[should_panic(expected = "cannot be moved")]
    fn the_system_clock_refuses_to_move() {
        Clock::system().advance(1);
    }
}
