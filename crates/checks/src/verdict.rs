use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not applicable, with the reason (e.g. a CRD-only kind the pinned
    /// OpenAPI cannot describe). Never used to hide a missing tool.
    Skip(String),
    /// The rule was waived for this object by the user (a suite spec or the
    /// chart's `vitals.yaml`), with their reason. The check still ran: its
    /// expected, observed and evidence are what it found.
    Waived(String),
}

/// One concrete problem: the object, the field path inside it, what is
/// wrong, and the smallest change that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub object: String,
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// Supporting material attached to a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    Finding(Finding),
    /// A command that ran, with its exit code and the tail of its stderr.
    Command {
        argv: String,
        exit: i32,
        stderr: String,
    },
    /// Free text, e.g. the template file an object came from.
    Note {
        text: String,
    },
    /// An HPA's reaction to load, as watched: what the report draws.
    Timeline(Timeline),
    /// A request stream through a disruption (drains, rollouts, a pod
    /// stopped), window by window: what the report draws beside the HPAs.
    Traffic(Traffic),
}

/// One window of a request stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficWindow {
    /// Since the cell's recorder clock started.
    pub t_ms: u64,
    pub sent: u64,
    pub failed: u64,
    /// Failures by kind (`refused`, `503`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, u64>,
    /// The window could not run or report (the exec failed), and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// A labelled moment of the disruption (`drain worker2`, `rollout web`),
/// in the stream's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSpan {
    pub label: String,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// A request stream to one Service while the disruption's spans ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub service: String,
    pub url: String,
    /// Requests per second the stream aimed at.
    pub rate_per_s: u32,
    pub window_ms: u64,
    pub windows: Vec<TrafficWindow>,
    pub spans: Vec<TrafficSpan>,
    /// The longest stretch without answers, estimated from the failures.
    pub longest_gap_ms: u64,
}

impl Traffic {
    /// The span a moment falls in (a window's length of slack after its
    /// end: a window that started inside it reports after it).
    pub fn span_at(&self, t_ms: u64) -> Option<&TrafficSpan> {
        self.spans
            .iter()
            .find(|s| s.from_ms <= t_ms && t_ms <= s.to_ms + self.window_ms)
    }

    /// One line per window, as the terminal shows it.
    pub fn lines(&self) -> Vec<String> {
        let secs = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
        self.windows
            .iter()
            .map(|w| {
                let kinds = if w.outcomes.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        w.outcomes
                            .iter()
                            .map(|(k, n)| format!("{k}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let during = self
                    .span_at(w.t_ms)
                    .map(|s| format!(" during {}", s.label))
                    .unwrap_or_default();
                match &w.lost {
                    Some(why) => format!("t={} window lost: {why}", secs(w.t_ms)),
                    None => format!(
                        "t={} sent={} failed={}{kinds}{during}",
                        secs(w.t_ms),
                        w.sent,
                        w.failed
                    ),
                }
            })
            .collect()
    }
}

/// One observation of an HPA during a load run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    pub current: i32,
    pub desired: i32,
    pub cpu_percent: Option<i32>,
}

/// The HPA's bounds and target next to what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub hpa: String,
    pub min: i32,
    pub max: i32,
    /// The averageUtilization target for cpu, when the HPA has one.
    pub target_cpu_percent: Option<i32>,
    /// When the load generator stopped, in the same clock as the samples.
    pub load_stopped_ms: Option<u64>,
    pub samples: Vec<Sample>,
}

/// The result of one check on one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What was checked, e.g. `Deployment/medplum-server`.
    pub subject: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub expected: String,
    pub observed: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Verdict {
    pub fn pass(
        subject: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Verdict {
        Verdict {
            subject: subject.into(),
            outcome: Outcome::Pass,
            expected: expected.into(),
            observed: observed.into(),
            evidence: Vec::new(),
            hint: None,
        }
    }

    pub fn fail(
        subject: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Verdict {
        Verdict {
            outcome: Outcome::Fail,
            ..Verdict::pass(subject, expected, observed)
        }
    }

    pub fn skip(subject: impl Into<String>, reason: impl Into<String>) -> Verdict {
        let reason = reason.into();
        Verdict {
            outcome: Outcome::Skip(reason.clone()),
            ..Verdict::pass(subject, "", reason)
        }
    }

    /// A verdict from a list of findings: pass when there are none.
    pub fn from_findings(
        subject: impl Into<String>,
        expected: impl Into<String>,
        findings: Vec<Finding>,
    ) -> Verdict {
        let subject = subject.into();
        let expected = expected.into();
        if findings.is_empty() {
            return Verdict::pass(subject, expected.clone(), "as expected");
        }
        let observed = format!(
            "{} problem{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
        let mut v = Verdict::fail(subject, expected, observed);
        v.evidence = findings.into_iter().map(Evidence::Finding).collect();
        v
    }

    /// This verdict, waived with the user's reason (what the check found
    /// is kept; a check that passes anyway says so, so the waiver can go).
    #[must_use]
    pub fn waived(mut self, because: impl Into<String>) -> Self {
        if self.outcome == Outcome::Pass {
            self.observed = format!("{} (passes without the waiver)", self.observed);
        }
        self.outcome = Outcome::Waived(because.into());
        self
    }

    #[must_use]
    pub fn with_evidence(mut self, e: Evidence) -> Self {
        self.evidence.push(e);
        self
    }

    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.evidence.iter().filter_map(|e| match e {
            Evidence::Finding(f) => Some(f),
            _ => None,
        })
    }
}

/// The message a person reads when a trial fails: expected, observed, each
/// finding with its field and fix, then the hint.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass => writeln!(f, "{}: ok ({})", self.subject, self.observed)?,
            Outcome::Skip(r) => writeln!(f, "{}: skipped: {r}", self.subject)?,
            Outcome::Waived(r) => {
                writeln!(f, "{}: waived: {r}", self.subject)?;
                writeln!(f, "  expected: {}", self.expected)?;
                writeln!(f, "  observed: {}", self.observed)?;
            }
            Outcome::Fail => {
                writeln!(f, "{}: FAILED", self.subject)?;
                writeln!(f, "  expected: {}", self.expected)?;
                writeln!(f, "  observed: {}", self.observed)?;
            }
        }
        for e in &self.evidence {
            match e {
                Evidence::Finding(x) => {
                    writeln!(f, "  - {} `{}`: {}", x.object, x.field, x.problem)?;
                    writeln!(f, "    fix: {}", x.fix)?;
                }
                Evidence::Command { argv, exit, stderr } => {
                    writeln!(f, "  $ {argv}  (exit {exit})")?;
                    for line in stderr.lines().take(40) {
                        writeln!(f, "    | {line}")?;
                    }
                }
                Evidence::Note { text } => writeln!(f, "  note: {text}")?,
                Evidence::Traffic(t) => {
                    writeln!(
                        f,
                        "  timeline of Service/{} ({}/s in {:.0}s windows):",
                        t.service,
                        t.rate_per_s,
                        t.window_ms as f64 / 1000.0
                    )?;
                    for line in t.lines() {
                        writeln!(f, "    {line}")?;
                    }
                }
                Evidence::Timeline(t) => {
                    writeln!(f, "  timeline of {} (min {}, max {}):", t.hpa, t.min, t.max)?;
                    for s in &t.samples {
                        writeln!(
                            f,
                            "    t={:.1}s replicas={} desired={} cpu={}",
                            s.t_ms as f64 / 1000.0,
                            s.current,
                            s.desired,
                            s.cpu_percent
                                .map(|c| format!("{c}%"))
                                .unwrap_or_else(|| "?".into())
                        )?;
                    }
                }
            }
        }
        if let Some(h) = &self.hint {
            writeln!(f, "  (hint: {h})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_verdict_reads_expected_observed_field_and_fix() {
        let v = Verdict::from_findings(
            "Deployment/web",
            "every container sets cpu and memory requests and limits",
            vec![Finding {
                object: "Deployment/web container `app`".into(),
                field: "spec.template.spec.containers[0].resources.limits.cpu".into(),
                problem: "missing".into(),
                fix: "set `resources.limits.cpu` (e.g. 500m)".into(),
            }],
        );
        let text = v.to_string();
        assert!(text.starts_with("Deployment/web: FAILED\n"), "{text}");
        assert!(text.contains("expected: every container sets"), "{text}");
        assert!(text.contains("observed: 1 problem\n"), "{text}");
        assert!(
            text.contains("`spec.template.spec.containers[0].resources.limits.cpu`: missing"),
            "{text}"
        );
        assert!(text.contains("fix: set `resources.limits.cpu`"), "{text}");
    }

    #[test]
    fn no_findings_is_a_pass() {
        assert_eq!(
            Verdict::from_findings("x", "y", vec![]).outcome,
            Outcome::Pass
        );
    }
}
