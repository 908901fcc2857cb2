//! Percentiles over timing samples.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile (`p` in 0..=100) of already sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

pub fn summarize_ms(values: &[f64]) -> Summary {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let mean = if n == 0 {
        f64::NAN
    } else {
        sorted.iter().sum::<f64>() / n as f64
    };
    Summary {
        n,
        min_ms: sorted.first().copied().unwrap_or(f64::NAN),
        p50_ms: percentile(&sorted, 50.0),
        p95_ms: percentile(&sorted, 95.0),
        max_ms: sorted.last().copied().unwrap_or(f64::NAN),
        mean_ms: mean,
    }
}

pub fn summarize(samples: &[Duration]) -> Summary {
    summarize_ms(&samples.iter().copied().map(ms).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0, "p50 of 1..=100 is 50");
        assert_eq!(percentile(&values, 95.0), 95.0, "p95 of 1..=100 is 95");
        assert_eq!(
            percentile(&[7.0], 95.0),
            7.0,
            "one sample is every percentile"
        );
    }

    #[test]
    fn summary_sorts_its_input() {
        let s = summarize_ms(&[3.0, 1.0, 2.0]);
        assert_eq!((s.min_ms, s.p50_ms, s.max_ms), (1.0, 2.0, 3.0));
    }
}
