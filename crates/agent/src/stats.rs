//! Latency summaries: nearest-rank percentiles.

use crate::report::Latency;

/// Nearest-rank percentile of an ascending-sorted slice: the smallest value
/// such that at least `p`% of the samples are <= it. `p` in (0, 100];
/// `None` for an empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[idx])
}

/// Summarise samples (any order; sorted in place). All zeros when empty.
pub fn summarize(samples: &mut [f64]) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let sum: f64 = samples.iter().sum();
    let pct = |p| percentile(samples, p).unwrap_or(0.0);
    Latency {
        count: samples.len() as u64,
        p50: pct(50.0),
        p90: pct(90.0),
        p99: pct(99.0),
        max: *samples.last().unwrap_or(&0.0),
        mean: sum / samples.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        // 10 samples: p50 = 5th, p90 = 9th, p99 = 10th.
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 99.0), Some(10.0));
        // 3 samples: p50 = 2nd (ceil(1.5) = 2).
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
    }

    #[test]
    fn summary_sorts_and_averages() {
        let mut v = vec![30.0, 10.0, 20.0, 40.0];
        let s = summarize(&mut v);
        assert_eq!(s.count, 4);
        assert_eq!(s.p50, 20.0);
        assert_eq!(s.p90, 40.0);
        assert_eq!(s.max, 40.0);
        assert_eq!(s.mean, 25.0);
        assert_eq!(summarize(&mut []), Latency::default());
    }
}
