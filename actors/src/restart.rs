//! Restart intensity, shared by the supervisors: how many times a child failed within a
//! sliding window, so that a child that keeps failing is left stopped instead of looping.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RestartIntensity<K> {
    max_restarts: usize,
    window: Duration,
    failures: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq> RestartIntensity<K> {
    pub fn new(max_restarts: usize, window: Duration) -> RestartIntensity<K> {
        RestartIntensity { max_restarts, window, failures: HashMap::new() }
    }

    /// Records a failure of `child`; returns how many failures it had within the window.
    pub fn record(&mut self, child: K) -> usize {
        let now = Instant::now();
        let failures = self.failures.entry(child).or_default();
        failures.push_back(now);
        while failures.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            failures.pop_front();
        }
        failures.len()
    }

    /// Whether `failures` (as `record` returned) is more than may be restarted.
    pub fn exceeded(&self, failures: usize) -> bool {
        failures > self.max_restarts
    }

    /// Whether `child` failed too often lately to be started again yet.
    pub fn resting(&self, child: &K) -> bool {
        let now = Instant::now();
        self.failures
            .get(child)
            .is_some_and(|f| f.iter().filter(|t| now.duration_since(**t) <= self.window).count() > self.max_restarts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_maximum_within_the_window_is_exceeded() {
        let mut intensity = RestartIntensity::new(2, Duration::from_secs(60));
        let first = intensity.record("a");
        let second = intensity.record("a");
        assert!(!intensity.exceeded(first) && !intensity.exceeded(second));
        assert!(!intensity.resting(&"a"));
        let third = intensity.record("a");
        assert!(intensity.exceeded(third));
        assert!(intensity.resting(&"a"));
        assert!(!intensity.resting(&"b"));
    }
}
