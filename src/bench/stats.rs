//! Latency samples and their percentiles.
//!
//! Every sample is kept and sorted once: percentiles are exact (nearest rank),
//! never estimated from a histogram. A benchmark run holds at most a few
//! million samples, a few tens of MiB.

use std::time::Duration;

/// Durations recorded in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    nanos: Vec<u64>,
}

/// What a set of samples comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub min: Duration,
    pub mean: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Samples {
    pub fn new() -> Samples {
        Samples::default()
    }

    pub fn with_capacity(capacity: usize) -> Samples {
        Samples {
            nanos: Vec::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, sample: Duration) {
        self.push_nanos(u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn push_nanos(&mut self, nanos: u64) {
        self.nanos.push(nanos);
    }

    /// Takes every sample of `other`.
    pub fn append(&mut self, other: &mut Samples) {
        self.nanos.append(&mut other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// Sorts the samples and summarizes them; `None` when there are none.
    pub fn summary(&mut self) -> Option<Summary> {
        if self.nanos.is_empty() {
            return None;
        }
        self.nanos.sort_unstable();
        let sorted = &self.nanos;
        let total: u128 = sorted.iter().map(|&n| u128::from(n)).sum();
        let mean = u64::try_from(total / sorted.len() as u128).unwrap_or(u64::MAX);
        Some(Summary {
            count: sorted.len(),
            min: Duration::from_nanos(sorted[0]),
            mean: Duration::from_nanos(mean),
            p50: Duration::from_nanos(percentile(sorted, 50.0)),
            p90: Duration::from_nanos(percentile(sorted, 90.0)),
            p99: Duration::from_nanos(percentile(sorted, 99.0)),
            max: Duration::from_nanos(sorted[sorted.len() - 1]),
        })
    }
}

/// The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` by nearest rank:
/// the smallest sample that at least `p` percent of the samples do not exceed.
///
/// # Panics
///
/// When `sorted` is empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let n = sorted.len();
    // Rounded first so that e.g. 0.99 * 100 = 98.99999999999999 ranks 99.
    let exact = (p / 100.0 * n as f64 * 1e6).round() / 1e6;
    let rank = (exact.ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Seconds as a float, for rates.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Samples::new().summary(), None);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let mut samples = Samples::new();
        samples.push(ms(7));
        let summary = samples.summary().unwrap();
        assert_eq!(summary.count, 1);
        for value in [
            summary.min,
            summary.mean,
            summary.p50,
            summary.p90,
            summary.p99,
            summary.max,
        ] {
            assert_eq!(value, ms(7));
        }
    }

    #[test]
    fn nearest_rank_over_one_to_a_hundred_in_any_order() {
        let mut samples = Samples::new();
        // 1..=100 ms, shuffled deterministically.
        for i in 0..100u64 {
            samples.push(ms((i * 37) % 100 + 1));
        }
        let summary = samples.summary().unwrap();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.min, ms(1));
        assert_eq!(summary.p50, ms(50));
        assert_eq!(summary.p90, ms(90));
        assert_eq!(summary.p99, ms(99));
        assert_eq!(summary.max, ms(100));
        assert_eq!(summary.mean, Duration::from_micros(50_500));
    }

    #[test]
    fn one_slow_sample_in_a_hundred_is_not_the_p99_but_two_are() {
        let mut samples = Samples::new();
        for _ in 0..99 {
            samples.push(ms(1));
        }
        samples.push(ms(500));
        assert_eq!(samples.summary().unwrap().p99, ms(1));
        let mut samples = Samples::new();
        for _ in 0..98 {
            samples.push(ms(1));
        }
        samples.push(ms(500));
        samples.push(ms(600));
        let summary = samples.summary().unwrap();
        assert_eq!(summary.p99, ms(500));
        assert_eq!(summary.max, ms(600));
    }

    #[test]
    fn percentile_ranks_by_ceiling_and_clamps() {
        let sorted = [10, 20, 30];
        assert_eq!(percentile(&sorted, 0.1), 10);
        assert_eq!(percentile(&sorted, 33.3), 10);
        assert_eq!(percentile(&sorted, 50.0), 20);
        assert_eq!(percentile(&sorted, 66.7), 30);
        assert_eq!(percentile(&sorted, 100.0), 30);
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99.0), 990);
        assert_eq!(percentile(&thousand, 99.9), 999);
    }

    #[test]
    fn appended_samples_count_together() {
        let mut a = Samples::new();
        let mut b = Samples::new();
        a.push(ms(3));
        b.push(ms(1));
        b.push(ms(2));
        a.append(&mut b);
        assert!(b.is_empty());
        let summary = a.summary().unwrap();
        assert_eq!((summary.count, summary.p50, summary.max), (3, ms(2), ms(3)));
    }

    #[test]
    fn rates() {
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
    }
}
