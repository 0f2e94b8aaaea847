//! Upgrade cells: what `ct install --upgrade` does, and what it cannot.
//!
//! - `<chart>/dev/upgrade/...`: the previous release of the chart (its
//!   highest `<chart>-v<semver>` git tag, or `E2E_UPGRADE_FROM`, a packaged
//!   `.tgz` or a chart directory) installed with the dev values, data written
//!   onto every stateful claim, then `helm upgrade` to the working copy.
//! - `<chart>/prod/upgrade/...`: the working copy installed with the dev
//!   values, then upgraded in place to the prod values (chart-testing#828).
//!
//! After the upgrade every cluster check runs against the upgraded release,
//! plus `upgrade/data-kept/<statefulset>`. An upgrade the API server refuses
//! (a changed StatefulSet selector or volumeClaimTemplate) fails
//! `upgrade/install` with helm's message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::render::Cell;

/// The starting point of an upgrade cell.
#[derive(Debug, Clone)]
pub struct UpgradeFrom {
    /// What the evidence calls it: `release medplum-v0.1.0`, `dev values`.
    pub label: String,
    pub chart_dir: PathBuf,
    /// Values of the first install (the suite overlay is added on top).
    pub values: Vec<PathBuf>,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{cmd:?}: cannot start: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} exited {}: {}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// The highest `<chart>-v<semver>` tag, if any.
pub fn latest_tag(root: &Path, chart: &str) -> Result<Option<String>, String> {
    let prefix = format!("{chart}-v");
    let tags = run(Command::new("git").arg("-C").arg(root).args([
        "tag",
        "--list",
        &format!("{prefix}*"),
    ]))?;
    Ok(tags
        .lines()
        .filter_map(|t| Some((semver(t.strip_prefix(&prefix)?)?, t.to_string())))
        .max()
        .map(|(_, t)| t))
}

/// The repository's `charts/` (and overlays) at a tag, extracted once under
/// the output directory so `file://` dependencies resolve as they did then.
fn tree_at(root: &Path, tag: &str) -> Result<PathBuf, String> {
    let dest = crate::env::out_dir().join("upgrade-from").join(tag);
    let done = dest.join(".extracted");
    if done.exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let tar = dest.join("tree.tar");
    run(Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .args([tag, "charts"]))?;
    run(Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&dest))?;
    let _ = std::fs::remove_file(&tar);
    std::fs::write(&done, tag).map_err(|e| format!("{}: {e}", done.display()))?;
    Ok(dest)
}

/// A packaged chart (`.tgz`) or a chart directory named by `E2E_UPGRADE_FROM`.
fn from_env(chart: &str) -> Result<Option<(String, PathBuf)>, String> {
    let Some(p) = std::env::var_os("E2E_UPGRADE_FROM").map(PathBuf::from) else {
        return Ok(None);
    };
    if p.is_dir() {
        return Ok(Some((format!("chart {}", p.display()), p)));
    }
    if !p.is_file() {
        return Err(format!(
            "E2E_UPGRADE_FROM: `{}` does not exist",
            p.display()
        ));
    }
    let stem = p
        .file_name()
        .map(|s| s.to_string_lossy().trim_end_matches(".tgz").to_string())
        .unwrap_or_default();
    let dest = crate::env::out_dir().join("upgrade-from").join(&stem);
    std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    run(Command::new("tar").arg("-xzf").arg(&p).arg("-C").arg(&dest))?;
    Ok(Some((format!("package {stem}"), dest.join(chart))))
}

/// Why a cell has no upgrade trial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoUpgrade {
    /// Nothing released yet to upgrade from: reported as a skip.
    NoRelease(String),
    /// A release exists but cannot be prepared: a failure.
    Broken(String),
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The upgrade cell for a cell, or why there is none.
pub fn cell_for(cell: &Cell) -> Result<Cell, NoUpgrade> {
    prepare(cell).map_err(NoUpgrade::Broken)?
}

fn prepare(cell: &Cell) -> Result<Result<Cell, NoUpgrade>, String> {
    let root = canonical(&crate::env::root());
    let suite = &cell.suite;
    let from = if cell.profile.prod {
        let dev = suite
            .profiles
            .iter()
            .find(|p| !p.prod)
            .ok_or_else(|| format!("{}: no non-prod profile to upgrade from", suite.name))?;
        UpgradeFrom {
            label: format!("the working copy with the {} values", dev.name),
            chart_dir: suite.chart_dir.clone(),
            values: dev.values.clone(),
        }
    } else {
        let chart_name = suite
            .chart_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (label, chart_dir, old_root) = match from_env(&chart_name)? {
            Some((label, dir)) => (label, dir, None),
            None => {
                let Some(tag) = latest_tag(&root, &suite.name)? else {
                    return Ok(Err(NoUpgrade::NoRelease(format!(
                        "no earlier release of {0}: tag one (`git tag {0}-v<version>`) or set E2E_UPGRADE_FROM to a packaged chart",
                        suite.name
                    ))));
                };
                let tree = tree_at(&root, &tag)?;
                let rel = canonical(&suite.chart_dir)
                    .strip_prefix(&root)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| PathBuf::from("charts").join(&chart_name));
                (format!("release {tag}"), tree.join(&rel), Some(tree))
            }
        };
        // The profile's values as they were at that release, where they existed.
        let values = cell
            .profile
            .values
            .iter()
            .map(|v| {
                old_root
                    .as_ref()
                    .and_then(|t| Some(t.join(canonical(v).strip_prefix(&root).ok()?)))
                    .filter(|p| p.is_file())
                    .unwrap_or_else(|| v.clone())
            })
            .collect();
        UpgradeFrom {
            label,
            chart_dir,
            values,
        }
    };
    if !from.chart_dir.join("Chart.yaml").is_file() {
        return Err(format!(
            "{}: no Chart.yaml under {}",
            from.label,
            from.chart_dir.display()
        ));
    }
    let mut c = cell.clone();
    c.upgrade = Some(Arc::new(from));
    Ok(Ok(c))
}

/// The StatefulSet spec fields the API server lets an update change; any
/// other change is refused ("updates to statefulset spec for fields other
/// than ... are forbidden").
const MUTABLE: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

fn diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} -> {b}")),
        _ => {}
    }
}

/// Changes an upgrade from `from` to `to` would make to immutable
/// StatefulSet fields: `StatefulSet/x spec.volumeClaimTemplates[0]...: "1Gi" -> "2Gi"`.
pub fn immutable_changes(
    from: &vitals_checks::Manifests,
    to: &vitals_checks::Manifests,
) -> Vec<String> {
    let mut out = Vec::new();
    for new in to.of_kind("StatefulSet") {
        let Some(old) = from.get("StatefulSet", &new.name) else {
            continue;
        };
        let frozen = |doc: &serde_json::Value| {
            let mut spec = doc.get("spec").cloned().unwrap_or_default();
            if let Some(m) = spec.as_object_mut() {
                m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
            }
            spec
        };
        let mut found = Vec::new();
        diff("spec", &frozen(&old.doc), &frozen(&new.doc), &mut found);
        out.extend(
            found
                .into_iter()
                .map(|d| format!("StatefulSet/{} {d}", new.name)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(size: &str, component: &str) -> vitals_checks::Manifests {
        vitals_checks::Manifests::parse(&format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  serviceName: db\n  replicas: 1\n  selector: {{matchLabels: {{c: {component}}}}}\n  volumeClaimTemplates:\n    - metadata: {{name: data}}\n      spec: {{resources: {{requests: {{storage: {size}}}}}}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_resized_claim_template_or_a_new_selector_cannot_be_applied() {
        assert_eq!(
            immutable_changes(&sts("1Gi", "db"), &sts("20Gi", "store")),
            vec![
                "StatefulSet/db spec.selector.matchLabels.c: \"db\" -> \"store\"".to_string(),
                "StatefulSet/db spec.volumeClaimTemplates[0].spec.resources.requests.storage: \"1Gi\" -> \"20Gi\"".to_string(),
            ]
        );
    }

    #[test]
    fn replicas_and_template_changes_apply_in_place() {
        assert!(immutable_changes(&sts("1Gi", "db"), &sts("1Gi", "db")).is_empty());
    }

    #[test]
    fn release_tags_sort_by_version_not_by_text() {
        assert!(semver("0.10.0") > semver("0.9.3"));
        assert_eq!(semver("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(semver("latest"), None);
    }
}
