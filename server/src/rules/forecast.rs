//! "Will this volume be full within 24 hours?": a least-squares line through recent used-bytes
//! samples, extrapolated to the volume's size.

/// Hours until `total` is reached at the trend of `samples` (time ms, used bytes); `None` when
/// there are too few samples, too short a span, or usage is not growing.
pub fn hours_to_full(samples: &[(i64, f64)], total: f64) -> Option<f64> {
    if samples.len() < 3 || total <= 0.0 {
        return None;
    }
    let (first, last) = (samples.first()?.0, samples.last()?.0);
    // Less than 10 minutes of data says nothing about a day.
    if last - first < 600_000 {
        return None;
    }
    let n = samples.len() as f64;
    let hours = |t: i64| (t - first) as f64 / 3_600_000.0;
    let mean_t = samples.iter().map(|(t, _)| hours(*t)).sum::<f64>() / n;
    let mean_y = samples.iter().map(|(_, y)| *y).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, y) in samples {
        let dt = hours(*t) - mean_t;
        num += dt * (y - mean_y);
        den += dt * dt;
    }
    if den == 0.0 {
        return None;
    }
    let slope = num / den; // bytes per hour
    if slope <= 0.0 {
        return None;
    }
    let now_used = mean_y + slope * (hours(last) - mean_t);
    Some(((total - now_used) / slope).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_growth_is_extrapolated() {
        // 1 GB per hour, 10 GB used of 20 GB at the last sample: 10 h to full.
        let gb = 1e9;
        let samples: Vec<(i64, f64)> = (0..=6)
            .map(|i| (i * 600_000, 9.0 * gb + f64::from(i as i32) * gb / 6.0))
            .collect();
        let h = hours_to_full(&samples, 20.0 * gb).expect("growing");
        assert!((h - 10.0).abs() < 0.01, "{h}");
    }

    #[test]
    fn flat_shrinking_or_thin_data_gives_no_forecast() {
        assert_eq!(
            hours_to_full(&[(0, 5.0), (600_000, 5.0), (1_200_000, 5.0)], 10.0),
            None
        );
        assert_eq!(
            hours_to_full(&[(0, 5.0), (600_000, 4.0), (1_200_000, 3.0)], 10.0),
            None
        );
        assert_eq!(
            hours_to_full(&[(0, 1.0), (1_000, 2.0), (2_000, 3.0)], 10.0),
            None,
            "span too short"
        );
        assert_eq!(
            hours_to_full(&[(0, 1.0), (700_000, 2.0)], 10.0),
            None,
            "too few samples"
        );
    }
}
