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

use crate::cell::Cell;
use vitals_checks::render::diff::{diff, Change, Difference};

// The start of an upgrade is part of a cell (`cell::UpgradeFrom`); kept
// here under its old path for the code that builds one.
pub use crate::cell::UpgradeFrom;

/// Why an upgrade's starting point could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("`{cmd}`: cannot start: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` exited {code}: {stderr}")]
    Exited {
        cmd: String,
        code: i32,
        stderr: String,
    },
    #[error("`{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("E2E_UPGRADE_FROM: `{}` does not exist", .0.display())]
    NoSuchFrom(PathBuf),
    #[error("{0}: no non-prod profile to upgrade from")]
    NoDevProfile(String),
    #[error("{label}: no Chart.yaml under {}", dir.display())]
    NoChart { label: String, dir: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UpgradeError + '_ {
    move |source| UpgradeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn run(cmd: &mut Command) -> Result<String, UpgradeError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| UpgradeError::Spawn {
        cmd: shown.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(UpgradeError::Exited {
            cmd: shown,
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// The highest `<chart>-v<semver>` tag, if any.
pub fn latest_tag(root: &Path, chart: &str) -> Result<Option<String>, UpgradeError> {
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

/// The chart's earlier revision when nothing is released: the last commit
/// that changed its `version` in Chart.yaml, what `ct install --upgrade`
/// takes as the previous revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCommit {
    /// The full commit id.
    pub commit: String,
    /// The `version` the chart has at that commit.
    pub version: String,
}

/// Why the history holds no earlier version of a chart: not an error, the
/// upgrade trial is then ignored with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoVersionCommit {
    #[error("`{file}` has no committed version")]
    NeverCommitted { file: String },
    /// Every line at a shallow clone's boundary reads as added by it.
    #[error("the clone is shallow (its history starts at {boundary}): fetch the history (`git fetch --unshallow`, or `fetch-depth: 0` in CI) to upgrade from the chart's previous revision")]
    Shallow { boundary: String },
    #[error("`{file}` at {commit} has no version")]
    NoVersion { file: String, commit: String },
}

/// The chart's `version:` line of a Chart.yaml text.
fn chart_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("version:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty())
}

/// The last commit of `repo` that changed the `version:` line of
/// `<chart_rel>/Chart.yaml`, or why there is none to upgrade from (a
/// chart never committed; a shallow clone whose only commit is the one
/// checked out, where every line looks newly added).
pub fn last_version_commit(
    repo: &Path,
    chart_rel: &Path,
) -> Result<Result<VersionCommit, NoVersionCommit>, UpgradeError> {
    let file = chart_rel.join("Chart.yaml");
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C").arg(repo).args(args);
        c
    };
    let file_s = file.to_string_lossy().into_owned();
    let found = run(&mut git(&[
        "log",
        "-n1",
        "--format=%H",
        "-G",
        "^version:",
        "--",
        &file_s,
    ]))?;
    let commit = found.trim().to_string();
    if commit.is_empty() {
        return Ok(Err(NoVersionCommit::NeverCommitted { file: file_s }));
    }
    let shallow = run(&mut git(&["rev-parse", "--is-shallow-repository"]))?;
    if shallow.trim() == "true" {
        // The shallow boundary has no parents here: whatever it holds reads
        // as added by it, so it says nothing about when the version changed.
        let parents = run(&mut git(&["rev-list", "--parents", "-n1", &commit]))?;
        if parents.split_whitespace().count() < 2 {
            return Ok(Err(NoVersionCommit::Shallow {
                boundary: commit[..commit.len().min(12)].to_string(),
            }));
        }
    }
    let text = run(&mut git(&["show", &format!("{commit}:{file_s}")]))?;
    Ok(match chart_version(&text) {
        Some(version) => Ok(VersionCommit { commit, version }),
        None => Err(NoVersionCommit::NoVersion {
            file: file_s,
            commit,
        }),
    })
}

/// `dir` (relative to `repo`) as it was at `rev`, extracted once under
/// `dest`, so `file://` dependencies beside it (the library chart) resolve
/// as they did then. Extracted into a temporary directory and renamed into
/// place: trial processes that prepare the same cell at once (nextest)
/// share one whole tree, whoever renames first.
pub fn tree_at(repo: &Path, rev: &str, dir: &Path, dest: &Path) -> Result<PathBuf, UpgradeError> {
    let done = dest.join(".extracted");
    if done.exists() {
        return Ok(dest.to_path_buf());
    }
    let parent = dest.parent().unwrap_or(dest);
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.join(format!(
        ".{}.{}.{:?}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let tar = tmp.join("tree.tar");
    run(Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", "-o"])
        .arg(&tar)
        .arg(rev)
        .arg(dir))?;
    run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&tmp))?;
    let _ = std::fs::remove_file(&tar);
    std::fs::write(tmp.join(".extracted"), rev).map_err(io(&tmp))?;
    if std::fs::rename(&tmp, dest).is_err() {
        // Someone else's whole tree is there already; ours is not needed.
        let _ = std::fs::remove_dir_all(&tmp);
        if !done.exists() {
            return Err(UpgradeError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::other("exists, but was not extracted whole"),
            });
        }
    }
    Ok(dest.to_path_buf())
}

pub use crate::cell::OWN_OVERLAY;

/// The chart's test overlay as it was at `rev` (its `.yaml.in` template,
/// filled with today's image refs), written beside the extracted tree: an
/// earlier revision's schema refuses keys today's overlay sets for newer
/// values (medplum at 687e19e: `/tests: additional properties 'client'`).
/// None when that revision had no template (today's overlay is used).
pub fn overlay_at(
    repo: &Path,
    rev: &str,
    chart: &str,
    tree: &Path,
    images: &std::collections::BTreeMap<String, String>,
) -> Result<Option<PathBuf>, UpgradeError> {
    let spec = format!("{rev}:suites/overlays/{chart}.yaml.in");
    let Ok(template) = run(Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["show", &spec]))
    else {
        return Ok(None);
    };
    // An image that is not built any more: today's overlay is used instead.
    let filled = crate::cell::overlay::fill(&template, images);
    if !filled.unbuilt.is_empty() {
        return Ok(None);
    }
    let text = filled.text;
    let out = tree.join(format!("overlay-{chart}")).join(OWN_OVERLAY);
    crate::cell::state::write_atomic(&out, text).map_err(io(&out))?;
    Ok(Some(out))
}

/// When the earlier revision had no overlay template of its own: today's
/// overlay less the keys that revision's schemas refuse (`cell::prune`),
/// written beside the extracted tree, and a label suffix naming the cut.
fn todays_overlay_cut_to(
    chart: &str,
    old_chart: &Path,
    tree: &Path,
) -> Result<(Option<PathBuf>, String), UpgradeError> {
    let Some(today) = crate::cell::overlay::overlay(chart).0 else {
        return Ok((None, String::new()));
    };
    let text = std::fs::read_to_string(&today).map_err(io(&today))?;
    let Ok(values) = serde_yaml::from_str::<serde_json::Value>(&text) else {
        return Ok((None, String::new()));
    };
    let (kept, dropped) = crate::cell::prune::prune_to_schema(&values, old_chart);
    let out = tree.join(format!("overlay-{chart}")).join(OWN_OVERLAY);
    let yaml = serde_yaml::to_string(&kept).unwrap_or_default();
    crate::cell::state::write_atomic(&out, yaml).map_err(io(&out))?;
    let cut = if dropped.is_empty() {
        "; today's test overlay".to_string()
    } else {
        format!(
            "; today's test overlay less what that revision's schema refuses ({})",
            dropped.join(", ")
        )
    };
    Ok((Some(out), cut))
}

/// A packaged chart (`.tgz`) or a chart directory named by `E2E_UPGRADE_FROM`.
fn from_env(chart: &str) -> Result<Option<(String, PathBuf)>, UpgradeError> {
    let Some(p) = crate::config::get().upgrade_from.clone() else {
        return Ok(None);
    };
    if p.is_dir() {
        return Ok(Some((format!("chart {}", p.display()), p)));
    }
    if !p.is_file() {
        return Err(UpgradeError::NoSuchFrom(p));
    }
    let stem = p
        .file_name()
        .map(|s| s.to_string_lossy().trim_end_matches(".tgz").to_string())
        .unwrap_or_default();
    let dest = crate::env::out_dir().join("upgrade-from").join(&stem);
    if !dest.join(".extracted").exists() {
        // Same as a tree: unpacked aside, renamed into place whole.
        let tmp = dest.with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        run(Command::new("tar").arg("-xzf").arg(&p).arg("-C").arg(&tmp))?;
        std::fs::write(tmp.join(".extracted"), &stem).map_err(io(&tmp))?;
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    Ok(Some((format!("package {stem}"), dest.join(chart))))
}

/// Why a cell has no upgrade trial.
#[derive(Debug)]
pub enum NoUpgrade {
    /// Nothing to upgrade from (no tag, no `E2E_UPGRADE_FROM`, no history):
    /// the trial cannot run and is listed as ignored with this reason.
    NoRelease(String),
    /// A starting point exists but cannot be prepared: a failure.
    Broken(UpgradeError),
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The upgrade cell for a cell, or why there is none.
pub fn cell_for(cell: &Cell) -> Result<Cell, NoUpgrade> {
    prepare(cell).map_err(NoUpgrade::Broken)?
}

/// An upgrade's start: its label, chart directory, the tree it sits in (to
/// find the values of that time) and the test overlay of that time.
type Base = (String, PathBuf, Option<PathBuf>, Option<PathBuf>);

/// Where the dev upgrade starts: `E2E_UPGRADE_FROM`, else the highest
/// release tag, else the chart at the last commit that changed its
/// version. Returns the label, the chart directory and the tree it sits in
/// (to find the values of that time).
fn base_for(
    suite: &crate::spec::Suite,
    root: &Path,
) -> Result<Result<Base, NoUpgrade>, UpgradeError> {
    let chart_name = suite
        .chart_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some((label, dir)) = from_env(&chart_name)? {
        return Ok(Ok((label, dir, None, None)));
    }
    let chart_dir = canonical(&suite.chart_dir);
    let rel = chart_dir
        .strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| PathBuf::from("charts").join(&chart_name));
    // Everything beside the chart (the library chart of `file://../`).
    let beside = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    let out = crate::env::out_dir().join("upgrade-from");
    let images = crate::env::images().1;
    if let Some(tag) = latest_tag(root, &suite.name)? {
        let tree = tree_at(root, &tag, &beside, &out.join(&tag))?;
        let (own, cut) = match overlay_at(root, &tag, &suite.name, &tree, &images)? {
            Some(o) => (Some(o), String::new()),
            None => todays_overlay_cut_to(&suite.name, &tree.join(&rel), &tree)?,
        };
        return Ok(Ok((
            format!("release {tag}{cut}"),
            tree.join(&rel),
            Some(tree),
            own,
        )));
    }
    match last_version_commit(root, &rel)? {
        Ok(vc) => {
            let short = &vc.commit[..vc.commit.len().min(12)];
            let tree = tree_at(root, &vc.commit, &beside, &out.join(&vc.commit))?;
            let (own, cut) = match overlay_at(root, &vc.commit, &suite.name, &tree, &images)? {
                Some(o) => (Some(o), String::new()),
                None => todays_overlay_cut_to(&suite.name, &tree.join(&rel), &tree)?,
            };
            Ok(Ok((
                format!(
                    "{} {} at {short} (the last commit that changed its version; no `{}-v*` tag){cut}",
                    suite.name, vc.version, suite.name
                ),
                tree.join(&rel),
                Some(tree),
                own,
            )))
        }
        Err(why) => Ok(Err(NoUpgrade::NoRelease(format!(
            "no earlier revision of {0} to upgrade from: no `{0}-v*` tag, no E2E_UPGRADE_FROM, and {why}",
            suite.name
        )))),
    }
}

fn prepare(cell: &Cell) -> Result<Result<Cell, NoUpgrade>, UpgradeError> {
    let root = canonical(&crate::env::root());
    let suite = &cell.suite;
    let from = if cell.profile.prod {
        let dev = suite
            .profiles
            .iter()
            .find(|p| !p.prod)
            .ok_or_else(|| UpgradeError::NoDevProfile(suite.name.clone()))?;
        UpgradeFrom {
            label: format!("the working copy with the {} values", dev.name),
            chart_dir: suite.chart_dir.clone(),
            values: dev.values.clone(),
        }
    } else {
        let (label, chart_dir, old_root, own_overlay) = match base_for(suite, &root)? {
            Ok(b) => b,
            Err(no) => return Ok(Err(no)),
        };
        // The profile's values as they were then, where they existed.
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
            .chain(own_overlay)
            .collect();
        UpgradeFrom {
            label,
            chart_dir,
            values,
        }
    };
    if !from.chart_dir.join("Chart.yaml").is_file() {
        return Err(UpgradeError::NoChart {
            label: from.label,
            dir: from.chart_dir,
        });
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

/// `path: from -> to`, an absent side shown as `null`. The API server
/// stores an explicit null as an absent field, so that pair changes
/// nothing.
fn immutable_change(d: &Difference<'_>) -> Option<String> {
    let (from, to) = match d.change {
        Change::Changed { from, to } => (from, to),
        Change::Removed(v) => (v, &serde_json::Value::Null),
        Change::Added(v) => (&serde_json::Value::Null, v),
    };
    (from != to).then(|| format!("{}: {from} -> {to}", d.path))
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
        let (old, new_spec) = (frozen(&old.doc), frozen(&new.doc));
        out.extend(
            diff("spec", &old, &new_spec)
                .into_iter()
                .filter_map(|d| immutable_change(&d))
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
    fn an_added_field_is_named_with_its_path_and_an_explicit_null_changes_nothing() {
        let from = sts("1Gi", "db");
        let mut to = sts("1Gi", "db");
        to.objects[0].doc["spec"]["serviceName"] = serde_json::Value::Null;
        to.objects[0].doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] =
            "db".into();
        assert_eq!(
            immutable_changes(&from, &to),
            vec![
                "StatefulSet/db spec.selector.matchLabels[\"app.kubernetes.io/name\"]: null -> \"db\"".to_string(),
                "StatefulSet/db spec.serviceName: \"db\" -> null".to_string(),
            ]
        );
        let mut absent = sts("1Gi", "db");
        absent.objects[0].doc["spec"]
            .as_object_mut()
            .unwrap()
            .insert("ordinalsX".into(), serde_json::Value::Null);
        assert!(immutable_changes(&from, &absent).is_empty());
    }

    #[test]
    fn replicas_and_template_changes_apply_in_place() {
        assert!(immutable_changes(&sts("1Gi", "db"), &sts("1Gi", "db")).is_empty());
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn chart_yaml(version: &str) -> String {
        format!("apiVersion: v2\nname: app\nversion: {version}\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n")
    }

    #[test]
    fn without_a_tag_the_upgrade_starts_at_the_last_commit_that_changed_the_version() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        git(r, &["init", "-q"]);
        write(r, "charts/app/Chart.yaml", &chart_yaml("0.1.0"));
        write(r, "charts/app/values.yaml", "a: 1\n");
        write(
            r,
            "charts/lib/Chart.yaml",
            "apiVersion: v2\nname: lib\ntype: library\nversion: 0.1.0\n",
        );
        write(
            r,
            "charts/lib/templates/_x.tpl",
            "{{- define \"lib.x\" -}}old{{- end -}}\n",
        );
        git(r, &["add", "."]);
        git(r, &["commit", "-qm", "first"]);
        write(r, "charts/app/Chart.yaml", &chart_yaml("0.2.0"));
        git(r, &["commit", "-qam", "bump"]);
        let bump = git(r, &["rev-parse", "HEAD"]);
        // Later work that does not touch the version, committed and not.
        write(r, "charts/app/values.yaml", "a: 2\n");
        write(
            r,
            "charts/lib/templates/_x.tpl",
            "{{- define \"lib.x\" -}}new{{- end -}}\n",
        );
        git(r, &["commit", "-qam", "work"]);
        write(r, "charts/app/values.yaml", "a: 3\n");

        let vc = last_version_commit(r, Path::new("charts/app"))
            .unwrap()
            .unwrap();
        assert_eq!(
            vc,
            VersionCommit {
                commit: bump.clone(),
                version: "0.2.0".into()
            }
        );

        // The library chart comes from the same commit, so file://../lib resolves as then.
        let out = tempfile::tempdir().unwrap();
        let tree = tree_at(
            r,
            &vc.commit,
            Path::new("charts"),
            &out.path().join(&vc.commit),
        )
        .unwrap();
        let read = |rel: &str| std::fs::read_to_string(tree.join(rel)).unwrap();
        assert_eq!(read("charts/app/values.yaml"), "a: 1\n");
        assert!(read("charts/lib/templates/_x.tpl").contains("old"));
        assert!(read("charts/app/Chart.yaml").contains("version: 0.2.0"));
        // A second preparation reuses the extracted tree.
        assert_eq!(
            tree_at(r, &vc.commit, Path::new("charts"), &tree).unwrap(),
            tree
        );
    }

    #[test]
    fn a_chart_never_committed_has_no_revision_to_upgrade_from() {
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q"]);
        write(repo.path(), "README.md", "x\n");
        git(repo.path(), &["add", "."]);
        git(repo.path(), &["commit", "-qm", "first"]);
        write(repo.path(), "charts/app/Chart.yaml", &chart_yaml("0.1.0"));
        let why = last_version_commit(repo.path(), Path::new("charts/app"))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            why,
            NoVersionCommit::NeverCommitted {
                file: "charts/app/Chart.yaml".into()
            }
        );
        assert_eq!(
            why.to_string(),
            "`charts/app/Chart.yaml` has no committed version"
        );
    }

    #[test]
    fn the_version_is_read_quoted_or_not() {
        assert_eq!(
            chart_version("name: a\nversion: \"1.2.3\"\n"),
            Some("1.2.3".into())
        );
        assert_eq!(chart_version("version: 0.1.1\n"), Some("0.1.1".into()));
        assert_eq!(chart_version("appVersion: 1\n"), None);
    }

    #[test]
    fn release_tags_sort_by_version_not_by_text() {
        assert!(semver("0.10.0") > semver("0.9.3"));
        assert_eq!(semver("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(semver("latest"), None);
    }
}
