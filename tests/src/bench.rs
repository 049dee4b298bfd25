//! Small helpers shared by the benchmark programs in `benches/`: knobs read from the
//! environment, latency summaries, and the one-line verdicts each bench ends with.

use std::{fmt::Display, str::FromStr, time::Duration};

/// The value of environment variable `name`, or `default` when it is unset. A value that
/// does not parse stops the bench: a typo must not silently run the default load.
pub fn env_or<T>(name: &str, default: T) -> T
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(name) {
        Ok(raw) => match raw.trim().parse() {
            Ok(value) => value,
            Err(e) => {
                eprintln!("{name}={raw:?} is not valid: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => default,
    }
}

/// Milliseconds, with enough decimals for sub-millisecond latencies.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// Order statistics of a set of latencies (nearest-rank percentiles).
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

impl Summary {
    /// Summarises `samples` (sorted in place). `None` when there are none.
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        let count = samples.len();
        let mean = total / u32::try_from(count).unwrap_or(u32::MAX);
        Some(Self {
            count,
            min: samples[0],
            mean,
            p50: percentile(samples, 50.0),
            p90: percentile(samples, 90.0),
            p99: percentile(samples, 99.0),
            max: samples[count - 1],
        })
    }
}

/// The nearest-rank `p`th percentile of `sorted` (ascending, non-empty).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// The verdict line a bench ends with, e.g.
/// `routing throughput ratio 0.950 (target >= 0.90): PASS`.
pub fn verdict(what: &str, value: &str, target: &str, pass: bool) -> String {
    format!(
        "{what} {value} (target {target}): {}",
        if pass { "PASS" } else { "MISS" }
    )
}

/// The value of one sample in a Prometheus/OpenMetrics text exposition, e.g.
/// `instudio_runtime_cached_routes` or
/// `instudio_runtime_catalog_lookups_total{result="found"}`; `None` when absent.
pub fn metric_sample(exposition: &str, sample: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(sample)
            .filter(|rest| rest.starts_with(' '))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    })
}

/// A tiny deterministic PRNG (SplitMix64) for spreading load, so benches need no
/// extra dependency and runs are reproducible from their seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift (bias negligible here).
    pub fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * (n as u128);
        usize::try_from(wide >> 64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(&mut v).unwrap();
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.min, Duration::from_millis(1));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(Summary::of(&mut one).unwrap().p99, Duration::from_millis(7));
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn metric_samples_match_whole_names() {
        let text = "instudio_runtime_cached_routes 10000\n\
                    instudio_runtime_catalog_lookups_total{result=\"found\"} 12\n";
        assert_eq!(
            metric_sample(text, "instudio_runtime_cached_routes"),
            Some(10000.0)
        );
        assert_eq!(
            metric_sample(
                text,
                "instudio_runtime_catalog_lookups_total{result=\"found\"}"
            ),
            Some(12.0)
        );
        assert_eq!(metric_sample(text, "instudio_runtime_cached"), None);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(1);
        let mut seen = [0usize; 10];
        for _ in 0..10_000 {
            seen[rng.below(10)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
    }
}
