//! The seed-promise table in a chart's README is true: every object it
//! names as keeping a promise (a backticked `Kind/name`, e.g.
//! `` `Service/postgres-service` ``) is in the render. A name followed by
//! ` (prod)` (or any other profile in parentheses) is held to that profile
//! only. The table is the one under the first `## Seed promises` heading;
//! its third column says where each promise is kept.

use std::collections::BTreeSet;
use std::path::Path;

use crate::verdict::{Finding, Verdict};
use crate::Manifests;

const EXPECTED: &str =
    "every object the README's seed-promise table names as keeping a promise is in the render";

/// One object reference found in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The table row's first cell (its number or promise).
    pub row: String,
    pub kind: String,
    pub name: String,
    /// The profile the reference is held to, when it says one.
    pub profile: Option<String>,
}

/// The README has no table this check can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    #[error("no `## Seed promises` heading")]
    NoHeading,
    #[error("the `## Seed promises` section has no table with a `kept where` column")]
    NoTable,
}

fn is_kind(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Splits a Markdown table row into its cells (escaped pipes are kept).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev = '\0';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
        prev = c;
    }
    out.push(cur.trim().to_string());
    out
}

/// The `Kind/name` references of one cell, with a profile when the
/// reference is followed by `(profile)`.
fn references(cell: &str) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    let parts: Vec<&str> = cell.split('`').collect();
    // Odd indexes are inside backticks.
    for i in (1..parts.len()).step_by(2) {
        let Some((kind, name)) = parts[i].split_once('/') else {
            continue;
        };
        if !is_kind(kind) || !is_name(name) {
            continue;
        }
        let after = parts.get(i + 1).copied().unwrap_or("").trim_start();
        let profile = after
            .strip_prefix('(')
            .and_then(|r| r.split_once(')'))
            .map(|(p, _)| p.trim())
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .map(str::to_string);
        out.push((kind.to_string(), name.to_string(), profile));
    }
    out
}

/// Every object the seed-promise table names, in table order.
pub fn parse(readme: &str) -> Result<Vec<Named>, TableError> {
    let mut lines = readme.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with("## Seed promises"))
        .ok_or(TableError::NoHeading)?;
    let mut column = None;
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with("## ") {
            break;
        }
        if !line.trim_start().starts_with('|') {
            if column.is_some() && !out.is_empty() && line.trim().is_empty() {
                break;
            }
            continue;
        }
        let row = cells(line);
        match column {
            None => {
                column = row
                    .iter()
                    .position(|c| c.to_lowercase().starts_with("kept"));
            }
            Some(col) => {
                if row
                    .iter()
                    .all(|c| c.chars().all(|ch| ch == '-' || ch == ':' || ch == ' '))
                {
                    continue;
                }
                let Some(cell) = row.get(col) else { continue };
                let label = row.first().cloned().unwrap_or_default();
                for (kind, name, profile) in references(cell) {
                    out.push(Named {
                        row: label.clone(),
                        kind,
                        name,
                        profile,
                    });
                }
            }
        }
    }
    if column.is_none() {
        return Err(TableError::NoTable);
    }
    Ok(out)
}

/// Checks the README of a chart against one profile's render.
pub fn check(readme: &Path, manifests: &Manifests, profile: &str) -> Verdict {
    let subject = readme.display().to_string();
    let text = match std::fs::read_to_string(readme) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Verdict::skip(subject, "the chart has no README.md")
        }
        Err(e) => return Verdict::fail(subject, EXPECTED, format!("cannot be read: {e}")),
    };
    let named = match parse(&text) {
        Ok(n) => n,
        // A chart that keeps no such table (someone else's) is not held to one.
        Err(TableError::NoHeading) => {
            return Verdict::skip(subject, "the README has no `## Seed promises` table")
        }
        Err(e) => {
            return Verdict::fail(
                &subject,
                EXPECTED,
                format!("{e} (fix: add a `## Seed promises` table whose `kept where` column names the objects)"),
            )
        }
    };
    let rendered: BTreeSet<(String, String)> = manifests
        .objects
        .iter()
        .map(|o| (o.kind.clone(), o.name.clone()))
        .collect();
    let mut checked = 0;
    let mut findings = Vec::new();
    for n in &named {
        if n.profile.as_deref().is_some_and(|p| p != profile) {
            continue;
        }
        checked += 1;
        if !rendered.contains(&(n.kind.clone(), n.name.clone())) {
            findings.push(Finding {
                object: format!("`{subject}`"),
                field: format!("seed-promise row {}", n.row),
                problem: format!(
                    "names `{}/{}` as keeping the promise, but the {profile} render has no such object",
                    n.kind, n.name
                ),
                fix: "correct the table (object kind and name, or the profile in parentheses after it), or render the object".into(),
            });
        }
    }
    let mut v = Verdict::from_findings(subject, EXPECTED, findings);
    if !v.failed() {
        v.observed = format!(
            "{checked} objects named for {profile} ({} in the table) are rendered",
            named.len()
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# x\n\n## Seed promises: kept where\n\n\
        | # | seed promise | kept where (objects) | replaced (why) |\n\
        | --- | --- | --- | --- |\n\
        | 1 | DNS | `Service/db`, `StatefulSet/db`; `db.port` | |\n\
        | 2 | HPA | `HorizontalPodAutoscaler/web` (prod); `web.autoscaling` | |\n\
        | 3 | docs | `values.yaml`, `templates/x.yaml` | |\n\
        \n## Next\n| a | `Service/ignored` |\n";

    fn manifests(objs: &[(&str, &str)]) -> Manifests {
        let text: String = objs
            .iter()
            .map(|(k, n)| format!("---\napiVersion: v1\nkind: {k}\nmetadata:\n  name: {n}\n"))
            .collect();
        Manifests::parse(&text).unwrap()
    }

    #[test]
    fn the_table_names_objects_with_their_profiles() {
        let named = parse(README).unwrap();
        let got: Vec<_> = named
            .iter()
            .map(|n| {
                (
                    n.row.as_str(),
                    n.kind.as_str(),
                    n.name.as_str(),
                    n.profile.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("1", "Service", "db", None),
                ("1", "StatefulSet", "db", None),
                ("2", "HorizontalPodAutoscaler", "web", Some("prod")),
            ]
        );
    }

    #[test]
    fn a_named_object_missing_from_the_render_fails_naming_row_and_object() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("README.md");
        std::fs::write(&p, README).unwrap();
        let v = check(&p, &manifests(&[("Service", "db")]), "dev");
        assert!(v.failed());
        let text = format!("{v:?}");
        assert!(text.contains("`StatefulSet/db`"), "{text}");
        assert!(text.contains("row 1"), "{text}");
        assert!(!text.contains("HorizontalPodAutoscaler"), "{text}");
    }

    #[test]
    fn a_profile_tag_holds_the_object_to_that_profile() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("README.md");
        std::fs::write(&p, README).unwrap();
        let m = manifests(&[("Service", "db"), ("StatefulSet", "db")]);
        assert!(!check(&p, &m, "dev").failed());
        assert!(check(&p, &m, "prod").failed());
    }

    #[test]
    fn a_chart_without_readme_or_table_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifests(&[]);
        let missing = check(&dir.path().join("README.md"), &m, "dev");
        assert!(!missing.failed());
        let p = dir.path().join("README.md");
        std::fs::write(&p, "# chart\n").unwrap();
        assert!(!check(&p, &m, "dev").failed());
    }

    #[test]
    fn a_readme_without_the_table_fails() {
        assert_eq!(parse("# x\n"), Err(TableError::NoHeading));
        assert_eq!(parse("## Seed promises\ntext\n"), Err(TableError::NoTable));
    }
}
