//! Kubernetes resource quantities (`250m`, `1.5`, `512Mi`, `60Gi`) as numbers,
//! for totals and comparisons in policies and suite invariants.

use serde_json::Value;

/// Parses a quantity into base units (cores for CPU, bytes for memory and
/// storage). Returns `None` for text that is not a quantity.
pub fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * mult)
}

/// A quantity field that YAML may have typed as a number (`cpu: 1`).
pub fn from_value(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => parse(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Human form for messages: `1150m`, `3.0Gi`.
pub fn format_cpu(cores: f64) -> String {
    format!("{}m", (cores * 1000.0).round() as i64)
}

pub fn format_bytes(bytes: f64) -> String {
    let gi = bytes / 1024f64.powi(3);
    if gi >= 1.0 {
        format!("{}Gi", trim(gi))
    } else {
        format!("{}Mi", trim(bytes / 1024f64.powi(2)))
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("250m", 0.25)]
    #[case("2", 2.0)]
    #[case("1.5", 1.5)]
    #[case("512Mi", 536870912.0)]
    #[case("60Gi", 64424509440.0)]
    #[case("1G", 1e9)]
    #[case("1e3", 1000.0)]
    fn quantities_parse(#[case] q: &str, #[case] want: f64) {
        assert_eq!(parse(q), Some(want));
    }

    #[test]
    fn nonsense_is_not_a_quantity() {
        assert_eq!(parse("lots"), None);
        assert_eq!(parse("5Qi"), None);
    }

    #[test]
    fn formats_round_trip_for_messages() {
        assert_eq!(format_cpu(1.15), "1150m");
        assert_eq!(format_bytes(parse("3Gi").unwrap()), "3Gi");
        assert_eq!(format_bytes(parse("768Mi").unwrap()), "768Mi");
    }
}
