//! How long an HPA may take, derived from the HPA itself and the metrics
//! pipeline, never a constant: a constant was tuned on one machine and ran
//! out on a slower one (healthcare-backend's Redis, idle at 59-63% against
//! a 70% target, stepped down one replica per window and missed a 110 s
//! deadline).
//!
//! The way down is simulated the way the HPA controller decides it
//! (`pkg/controller/podautoscaler/horizontal.go`): every sync period it
//! recommends `ceil(replicas x usage / target)` (no change within the
//! tolerance), takes the largest recommendation of its scale-down
//! stabilization window, and removes at most what its scale-down policies
//! allow per period. Usage after the load is taken at the most the margin
//! check admits ([`MAX_IDLE_SHARE`] of the target), so the deadline is the
//! same on every machine that passes that check.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;

/// The most of its cpu target a pod may use while idle for the HPA trial
/// to be decidable: each stabilization window at least halves the excess.
/// Closer to the target, noise alone holds replicas up (the HPA's 10%
/// tolerance), and whether it comes down depends on the machine.
pub const MAX_IDLE_SHARE: f64 = 0.5;

/// The HPA controller's default sync period (`--horizontal-pod-autoscaler-sync-period`).
pub const SYNC: Duration = Duration::from_secs(15);

/// The controller's default tolerance: no change while usage / target is within 10% of 1.
const TOLERANCE: f64 = 0.1;

/// How many replicas one policy lets a scale-down remove per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: i32,
    pub period: Duration,
}

/// Which policy applies when several do (`selectPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The one allowing the largest change (the default).
    Max,
    Min,
    /// Never scales down.
    Disabled,
}

/// An HPA's scale-down rules, with Kubernetes' defaults where unset.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDown {
    pub window: Duration,
    pub policies: Vec<Policy>,
    pub select: Select,
}

impl Default for ScaleDown {
    /// No `behavior`: a 300 s window, all pods may go in 15 s.
    fn default() -> Self {
        ScaleDown {
            window: Duration::from_secs(300),
            policies: vec![Policy {
                kind: PolicyKind::Percent,
                value: 100,
                period: Duration::from_secs(15),
            }],
            select: Select::Max,
        }
    }
}

impl ScaleDown {
    /// From the live HPA's `spec.behavior`.
    pub fn from_behavior(b: Option<&HorizontalPodAutoscalerBehavior>) -> ScaleDown {
        let d = ScaleDown::default();
        let Some(rules) = b.and_then(|b| b.scale_down.as_ref()) else {
            return d;
        };
        let policies = rules
            .policies
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|ps| {
                ps.iter()
                    .map(|p| Policy {
                        kind: if p.type_ == "Pods" {
                            PolicyKind::Pods
                        } else {
                            PolicyKind::Percent
                        },
                        value: p.value.max(0),
                        period: Duration::from_secs(p.period_seconds.max(1) as u64),
                    })
                    .collect()
            })
            .unwrap_or(d.policies);
        ScaleDown {
            window: rules
                .stabilization_window_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(d.window),
            policies,
            select: match rules.select_policy.as_deref() {
                Some("Min") => Select::Min,
                Some("Disabled") => Select::Disabled,
                _ => Select::Max,
            },
        }
    }

    /// The fewest replicas the policies allow now, given the replicas at
    /// the start of each policy's period (current plus what it removed in
    /// that period).
    fn limit(&self, current: i32, removed_within: impl Fn(Duration) -> i32) -> i32 {
        let proposed = self.policies.iter().map(|p| {
            let start = current + removed_within(p.period);
            match p.kind {
                PolicyKind::Pods => start - p.value,
                PolicyKind::Percent => (start as f64 * (1.0 - p.value as f64 / 100.0)) as i32,
            }
        });
        match self.select {
            Select::Max => proposed.min().unwrap_or(current),
            Select::Min => proposed.max().unwrap_or(current),
            Select::Disabled => current,
        }
    }
}

/// How often the resource-metrics pipeline has a new reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// metrics-server's `--metric-resolution` (its default: 60 s).
    pub resolution: Duration,
    pub sync: Duration,
}

impl Pipeline {
    /// How long after the load stops the HPA can first see the pods idle:
    /// the reading's window, the next scrape, and the next sync.
    pub fn lag(&self) -> Duration {
        self.resolution * 2 + self.sync
    }
}

/// How long the HPA takes to go from `from` replicas to `min` after the
/// load stops, its pods idling at `idle_share` of the target; None when it
/// never would (scale-down disabled, or idle usage that keeps it up).
pub fn way_down(
    sd: &ScaleDown,
    from: i32,
    min: i32,
    idle_share: f64,
    p: &Pipeline,
) -> Option<Duration> {
    let tick = p.sync.as_secs().max(1);
    let lag = p.lag().as_secs();
    let mut n = from.max(min);
    // (time, recommendation) and (time, replicas removed), in seconds.
    let mut recs: Vec<(u64, i32)> = Vec::new();
    let mut removed: Vec<(u64, i32)> = Vec::new();
    let mut t = 0;
    // An hour of simulated syncs: past that, it does not come down.
    while t <= 3600 + sd.window.as_secs() {
        if n <= min {
            // Reached at the last sync; this one reads the new count back
            // into the HPA's status (what the trial watches).
            return Some(Duration::from_secs(t));
        }
        // Before the lag the HPA still sees the load; within the tolerance
        // it changes nothing.
        let rec = if t < lag || (idle_share - 1.0).abs() <= TOLERANCE {
            n
        } else {
            ((n as f64 * idle_share).ceil() as i32).max(min)
        };
        recs.push((t, rec));
        let since = t.saturating_sub(sd.window.as_secs());
        let stable = recs
            .iter()
            .filter(|(at, _)| *at > since || *at == t)
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(rec);
        if stable < n {
            let limit = sd.limit(n, |period| {
                removed
                    .iter()
                    .filter(|(at, _)| at + period.as_secs() > t)
                    .map(|(_, k)| *k)
                    .sum()
            });
            let next = stable.max(limit).max(min);
            if next < n {
                removed.push((t, n - next));
                n = next;
            }
        }
        t += tick;
    }
    None
}

/// The deadline a trial allows for the way down: the simulated time with
/// a fifth on top, plus two syncs and a resolution for a busy machine's
/// late reconciles and scrapes.
pub fn down_deadline(sd: &ScaleDown, max: i32, min: i32, p: &Pipeline) -> Option<Duration> {
    let sim = way_down(sd, max, min, MAX_IDLE_SHARE, p)?;
    Some(sim + sim / 5 + p.sync * 2 + p.resolution)
}

/// How long the way up may take from the load's start: the reading's lag
/// twice over (the load ramps up), two syncs, never under the 120 s the
/// trials have always allowed.
pub fn up_deadline(p: &Pipeline) -> Duration {
    (p.resolution * 4 + p.sync * 3).max(Duration::from_secs(120))
}

/// Whether idle usage leaves the HPA room to come down: idle at most
/// [`MAX_IDLE_SHARE`] of the target. Returns the margin in points.
pub fn idle_margin(idle_percent: i32, target_percent: i32) -> (i32, bool) {
    let margin = target_percent - idle_percent;
    let ok = idle_percent as f64 <= target_percent as f64 * MAX_IDLE_SHARE;
    (margin, ok)
}

/// Parses a Go duration as metrics-server's flags take it (`15s`, `1m`, `1m30s`).
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let c = rest.chars().next()?;
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            rest = &rest[1..];
            continue;
        }
        let (unit, secs) = if let Some(r) = rest.strip_prefix("ms") {
            rest = r;
            ("ms", 0.001)
        } else if let Some(r) = rest.strip_prefix('s') {
            rest = r;
            ("s", 1.0)
        } else if let Some(r) = rest.strip_prefix('m') {
            rest = r;
            ("m", 60.0)
        } else if let Some(r) = rest.strip_prefix('h') {
            rest = r;
            ("h", 3600.0)
        } else {
            return None;
        };
        let _ = unit;
        total += num.parse::<f64>().ok()? * secs;
        num.clear();
    }
    if !num.is_empty() {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// metrics-server's resolution from its container args; its own default
/// (60 s) when the flag is absent.
pub fn resolution_from_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Duration {
    args.into_iter()
        .find_map(|a| a.strip_prefix("--metric-resolution="))
        .and_then(go_duration)
        .unwrap_or(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::{HPAScalingPolicy, HPAScalingRules};

    fn this_cluster() -> Pipeline {
        // images/addons/metrics-server.yaml: --metric-resolution=15s.
        Pipeline {
            resolution: Duration::from_secs(15),
            sync: SYNC,
        }
    }

    fn overlay_behavior() -> HorizontalPodAutoscalerBehavior {
        // suites/overlays/*.yaml: 20 s window, all pods may go in 15 s.
        HorizontalPodAutoscalerBehavior {
            scale_down: Some(HPAScalingRules {
                stabilization_window_seconds: Some(20),
                select_policy: Some("Max".into()),
                policies: Some(vec![HPAScalingPolicy {
                    type_: "Percent".into(),
                    value: 100,
                    period_seconds: 15,
                }]),
                ..Default::default()
            }),
            scale_up: None,
        }
    }

    #[test]
    fn without_behavior_the_kubernetes_defaults_apply() {
        let sd = ScaleDown::from_behavior(None);
        assert_eq!(sd.window, Duration::from_secs(300));
        assert_eq!(sd.select, Select::Max);
        assert_eq!(sd.policies[0].kind, PolicyKind::Percent);
        assert_eq!(sd.policies[0].value, 100);
        // A behavior with only scaleUp leaves scale-down at its defaults.
        let up_only = HorizontalPodAutoscalerBehavior {
            scale_up: Some(HPAScalingRules::default()),
            scale_down: None,
        };
        assert_eq!(
            ScaleDown::from_behavior(Some(&up_only)),
            ScaleDown::default()
        );
    }

    #[test]
    fn each_stabilization_window_at_least_halves_the_excess_at_the_admitted_idle() {
        let sd = ScaleDown::from_behavior(Some(&overlay_behavior()));
        // 10 -> 5 -> 3 with the 45 s lag of a 15 s pipeline: 105 s.
        assert_eq!(
            way_down(&sd, 10, 3, MAX_IDLE_SHARE, &this_cluster()),
            Some(Duration::from_secs(105))
        );
        // More replicas to shed take longer.
        let short = way_down(&sd, 4, 2, MAX_IDLE_SHARE, &this_cluster()).unwrap();
        let long = way_down(&sd, 10, 2, MAX_IDLE_SHARE, &this_cluster()).unwrap();
        assert!(long > short, "{long:?} vs {short:?}");
    }

    #[test]
    fn the_default_five_minute_window_sets_the_pace() {
        let sd = ScaleDown::default();
        let t = way_down(&sd, 10, 2, MAX_IDLE_SHARE, &this_cluster()).unwrap();
        // Three halvings (10 -> 5 -> 3 -> 2), each a 300 s window.
        assert!(
            t >= Duration::from_secs(900) && t < Duration::from_secs(1000),
            "{t:?}"
        );
    }

    #[test]
    fn a_pods_policy_removes_at_most_its_value_per_period() {
        let sd = ScaleDown {
            window: Duration::ZERO,
            policies: vec![Policy {
                kind: PolicyKind::Pods,
                value: 1,
                period: Duration::from_secs(60),
            }],
            select: Select::Max,
        };
        // Idle far below the target, but one pod a minute: 6 -> 2 is 4 minutes.
        let t = way_down(&sd, 6, 2, 0.1, &this_cluster()).unwrap();
        assert_eq!(t, Duration::from_secs(45 + 3 * 60 + 15));
    }

    #[test]
    fn with_min_select_the_slower_policy_wins() {
        let fast = Policy {
            kind: PolicyKind::Percent,
            value: 100,
            period: Duration::from_secs(15),
        };
        let slow = Policy {
            kind: PolicyKind::Pods,
            value: 1,
            period: Duration::from_secs(15),
        };
        let max = ScaleDown {
            window: Duration::ZERO,
            policies: vec![fast, slow],
            select: Select::Max,
        };
        let min = ScaleDown {
            select: Select::Min,
            ..max.clone()
        };
        let p = this_cluster();
        assert!(way_down(&min, 8, 2, 0.1, &p) > way_down(&max, 8, 2, 0.1, &p));
    }

    #[test]
    fn a_disabled_scale_down_or_idle_near_the_target_never_comes_down() {
        let off = ScaleDown {
            select: Select::Disabled,
            ..ScaleDown::default()
        };
        assert_eq!(way_down(&off, 4, 2, 0.1, &this_cluster()), None);
        // Idle at 95% of the target: within the tolerance, nothing moves.
        let sd = ScaleDown::from_behavior(Some(&overlay_behavior()));
        assert_eq!(way_down(&sd, 9, 6, 0.95, &this_cluster()), None);
    }

    #[test]
    fn the_deadline_grows_with_the_resolution_and_adds_room_for_a_busy_machine() {
        let sd = ScaleDown::from_behavior(Some(&overlay_behavior()));
        let fast = down_deadline(&sd, 10, 3, &this_cluster()).unwrap();
        assert_eq!(fast, Duration::from_secs(105 + 21 + 30 + 15));
        let slow = down_deadline(
            &sd,
            10,
            3,
            &Pipeline {
                resolution: Duration::from_secs(60),
                sync: SYNC,
            },
        )
        .unwrap();
        assert!(slow > fast + Duration::from_secs(90), "{slow:?}");
        assert_eq!(up_deadline(&this_cluster()), Duration::from_secs(120));
    }

    #[test]
    fn idle_usage_must_sit_at_most_half_the_target() {
        // healthcare-backend's Redis on the slower machine: 63% against 70%.
        assert_eq!(idle_margin(63, 70), (7, false));
        // medplum's server: 4% against 80%.
        assert_eq!(idle_margin(4, 80), (76, true));
        assert_eq!(idle_margin(35, 70), (35, true));
    }

    #[test]
    fn the_resolution_is_read_from_the_flag_or_defaults_to_a_minute() {
        assert_eq!(
            resolution_from_args(["--kubelet-insecure-tls", "--metric-resolution=15s"]),
            Duration::from_secs(15)
        );
        assert_eq!(
            resolution_from_args(["--secure-port=10250"]),
            Duration::from_secs(60)
        );
        assert_eq!(go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(go_duration("15"), None);
    }
}
