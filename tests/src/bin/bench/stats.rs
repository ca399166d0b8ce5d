//! Samples of durations and their percentiles (nearest rank), and the formats the tables use.

use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Nearest-rank percentile; zero when there is no sample.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn p95(&self) -> Duration {
        self.percentile(95.0)
    }

    /// `median / p95` in milliseconds, e.g. `12.3 / 15.0`.
    pub fn median_p95(&self) -> String {
        if self.0.is_empty() {
            return "–".into();
        }
        format!("{} / {}", ms(self.median()), ms(self.p95()))
    }
}

/// Milliseconds with one decimal (two below 10 ms).
pub fn ms(duration: Duration) -> String {
    let value = duration.as_secs_f64() * 1000.0;
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

pub fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// A size in bytes as MiB with two decimals and the exact byte count.
pub fn size(bytes: u64) -> String {
    format!("{:.2} MiB ({bytes} B)", bytes as f64 / (1024.0 * 1024.0))
}

pub fn mib_from_kib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples = Samples::default();
        for n in 1..=20 {
            samples.push(Duration::from_millis(n));
        }
        assert_eq!(samples.median(), Duration::from_millis(10));
        assert_eq!(samples.p95(), Duration::from_millis(19));
    }
}
