/// How serious a `helm lint` finding is. With `--strict`, warnings fail too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One `[LEVEL] path: message` line of `helm lint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    pub severity: Severity,
    /// The file helm blames (`templates/deployment.yaml`, `values.yaml`).
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct LintReport {
    pub passed: bool,
    pub findings: Vec<LintFinding>,
}

impl LintReport {
    /// Parses helm's human output (identical in helm 3 and 4).
    pub fn parse(text: &str, passed: bool) -> LintReport {
        let mut findings = Vec::new();
        let mut current: Option<LintFinding> = None;
        for line in text.lines() {
            let parsed = [
                ("[INFO]", Severity::Info),
                ("[WARNING]", Severity::Warning),
                ("[ERROR]", Severity::Error),
            ]
            .into_iter()
            .find_map(|(tag, sev)| {
                line.trim_start()
                    .strip_prefix(tag)
                    .map(|rest| (sev, rest.trim()))
            });
            if let Some((severity, rest)) = parsed {
                findings.extend(current.take());
                let (path, message) = match rest.split_once(": ") {
                    Some((p, m)) if !p.contains(' ') => (p.to_string(), m.to_string()),
                    _ => (String::new(), rest.to_string()),
                };
                current = Some(LintFinding {
                    severity,
                    path,
                    message,
                });
            } else if let Some(f) = current.as_mut() {
                // helm wraps template errors over several lines.
                if !line.trim().is_empty()
                    && !line.contains("chart(s) linted")
                    && !line.starts_with("==>")
                {
                    f.message.push('\n');
                    f.message.push_str(line);
                }
            }
        }
        findings.extend(current);
        LintReport { passed, findings }
    }

    /// Findings that fail a strict lint.
    pub fn failures(&self) -> impl Iterator<Item = &LintFinding> {
        self.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_keep_their_file_and_wrapped_lines() {
        let out = "==> Linting charts/x\n[INFO] Chart.yaml: icon is recommended\n[ERROR] templates/: template: x/templates/a.yaml:3:4: executing\n  more detail\n[WARNING] values.yaml: key is unused\n\nError: 1 chart(s) linted, 1 chart(s) failed\n";
        let r = LintReport::parse(out, false);
        assert_eq!(r.findings.len(), 3);
        assert_eq!(r.findings[1].severity, Severity::Error);
        assert_eq!(r.findings[1].path, "templates/");
        assert!(
            r.findings[1].message.ends_with("more detail"),
            "{:?}",
            r.findings[1]
        );
        assert_eq!(r.failures().count(), 2);
    }
}
