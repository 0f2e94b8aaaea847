//! Records written before `Evidence::Timeline` existed carried the HPA
//! timeline as a note (`timeline:\nt=0.0s replicas=2 desired=2 cpu=4%`...).
//! Recovering it lets old result files still draw their charts; what the
//! note never held (cpu target, end of load) is simply not drawn.

use vitals_checks::verdict::{Sample, Timeline};

/// The timeline in an old-format note, or `None` when `text` is not one.
/// `expected` is the verdict's, which named the bounds
/// ("scales above 2 under load ..., never above 10, ...").
pub fn timeline_from_note(hpa: &str, text: &str, expected: &str) -> Option<Timeline> {
    let body = text.strip_prefix("timeline:")?;
    let samples: Vec<Sample> = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(sample)
        .collect::<Option<_>>()?;
    if samples.is_empty() {
        return None;
    }
    let observed_min = samples.iter().map(|s| s.current.min(s.desired)).min()?;
    let observed_max = samples.iter().map(|s| s.current.max(s.desired)).max()?;
    Some(Timeline {
        hpa: hpa.to_string(),
        min: number_after(expected, "scales above ").unwrap_or(observed_min),
        max: number_after(expected, "never above ").unwrap_or(observed_max),
        target_cpu_percent: None,
        load_stopped_ms: None,
        samples,
    })
}

/// `t=22.7s replicas=2 desired=5 cpu=324%` (cpu `?` before metrics exist).
fn sample(line: &str) -> Option<Sample> {
    let (mut t, mut current, mut desired, mut cpu) = (None, None, None, None);
    for field in line.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        match key {
            "t" => t = value.strip_suffix('s')?.parse::<f64>().ok(),
            "replicas" => current = value.parse().ok(),
            "desired" => desired = value.parse().ok(),
            "cpu" => cpu = Some(value.strip_suffix('%').and_then(|v| v.parse().ok())),
            _ => {}
        }
    }
    Some(Sample {
        t_ms: (t? * 1000.0).round() as u64,
        current: current?,
        desired: desired?,
        cpu_percent: cpu?,
    })
}

fn number_after(text: &str, prefix: &str) -> Option<i32> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "timeline:\nt=0.0s replicas=2 desired=2 cpu=4%\nt=7.6s replicas=2 desired=2 cpu=?\nt=22.7s replicas=2 desired=5 cpu=324%\nt=118.0s replicas=2 desired=2 cpu=4%";

    #[test]
    fn reads_samples_and_bounds_from_an_old_note() {
        let t = timeline_from_note(
            "medplum-server",
            NOTE,
            "scales above 2 under load within 120s, never above 10, back to 2 within 110s after",
        )
        .unwrap();
        assert_eq!((t.min, t.max), (2, 10));
        assert_eq!(t.samples.len(), 4);
        assert_eq!(t.samples[1].cpu_percent, None);
        assert_eq!(t.samples[2].t_ms, 22_700);
        assert_eq!(t.samples[2].desired, 5);
        assert_eq!(t.target_cpu_percent, None);
    }

    #[test]
    fn bounds_fall_back_to_what_was_observed() {
        let t = timeline_from_note("x", NOTE, "something else").unwrap();
        assert_eq!((t.min, t.max), (2, 5));
    }

    #[test]
    fn other_notes_are_not_timelines() {
        assert!(timeline_from_note("x", "load: 480 requests", "").is_none());
        assert!(timeline_from_note("x", "timeline:\nnonsense", "").is_none());
        assert!(timeline_from_note("x", "timeline:", "").is_none());
    }
}
