//! Schema negatives: nonsense values a chart must refuse. Each case in
//! `suites/fixtures/schema-negatives/<chart>.yaml` is a render trial of the
//! cell it names, `<chart>/<profile>/render/refuses/<case>`: `helm template`
//! of the chart with the profile's values plus the case's must fail, and
//! its error must mention every `mentions` substring (the key, so that a
//! user reading it knows what to change). A schema that lets the nonsense
//! through fails the trial, naming the values and the key to tighten.
//!
//! The harness proves the check can fail: `harness/sample.yaml` holds cases
//! for the sample chart, some it accepts, each with what the failed trial
//! must say (`harness/-/render/catches/refuses-<case>`), and one it refuses
//! (`harness/-/render/passes/refuses-<case>`).

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use vitals_checks::{Evidence, Verdict};
use vitals_helm::Helm;

use crate::render::{self, Cell, Check};
use crate::spec::{Profile, Suite};

/// One chart's negatives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Negatives {
    /// `charts/<chart>`; the file is named after it.
    pub chart: String,
    /// The profile whose cell runs the cases (its values files, as the
    /// suite spec lists them, come first).
    pub profile: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The trial's last segment: `render/refuses/<name>`.
    pub name: String,
    /// Merged over the profile's values.
    pub values: serde_json::Value,
    /// Substrings helm's error must contain.
    pub mentions: Vec<String>,
    /// Harness files only: the case is one the sample chart accepts (or
    /// refuses without the mentions), and these are substrings the failed
    /// trial's message must contain. Absent: the trial must pass.
    #[serde(default)]
    pub catches: Option<Vec<String>>,
}

/// What can be wrong with a negatives file or with the harness's proof.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("schema negatives `{}` cannot be read", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("schema negatives `{}`: field `{field}`: {message}", path.display())]
    Invalid {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("schema negatives `{}` say `chart: {found}`, but the file is named for chart `{expected}`\n(hint: rename the file to {found}.yaml, or correct `chart`)", path.display())]
    WrongChart {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("schema negatives `{}` name profile `{profile}`, which chart `{chart}` does not have (known: {known})", path.display())]
    UnknownProfile {
        path: PathBuf,
        chart: String,
        profile: String,
        known: String,
    },
    #[error("schema negatives `{}` list case `{case}` twice: trial names must be unique", path.display())]
    DuplicateCase { path: PathBuf, case: String },
    #[error("schema negatives `{}`: case `{case}` has `catches`, which only the harness's files may have", path.display())]
    CatchesOutsideHarness { path: PathBuf, case: String },
    #[error("cannot write the values of case `{case}` to `{}`", path.display())]
    WriteValues {
        case: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("harness case `{case}` ({}) derived no `{trial}` check", path.display())]
    NotDerived {
        path: PathBuf,
        case: String,
        trial: String,
    },
    #[error("harness case `{case}`: `{trial}` should have failed, but passed:\n{verdict}")]
    NotCaught {
        case: String,
        trial: String,
        verdict: String,
    },
    #[error(
        "harness case `{case}`: `{trial}` failed, but its message lacks {missing:?}:\n{verdict}"
    )]
    MessageLacks {
        case: String,
        trial: String,
        missing: Vec<String>,
        verdict: String,
    },
    #[error("harness case `{case}`: `{trial}` should pass (the sample refuses it as promised), but:\n{verdict}")]
    FalseAlarm {
        case: String,
        trial: String,
        verdict: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn dir() -> PathBuf {
    crate::env::fixtures_dir().join("schema-negatives")
}

/// The harness's negatives, for `suites/fixtures/sample`.
fn harness_file() -> PathBuf {
    dir().join("harness").join("sample.yaml")
}

/// Reads a negatives file; case names must be unique, since each is a trial.
pub fn load(path: &Path) -> Result<Negatives> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let de = serde_yaml::Deserializer::from_str(&text);
    let n: Negatives = serde_path_to_error::deserialize(de).map_err(|e| Error::Invalid {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    let mut seen = BTreeSet::new();
    if let Some(dup) = n.cases.iter().find(|c| !seen.insert(c.name.as_str())) {
        return Err(Error::DuplicateCase {
            path: path.to_path_buf(),
            case: dup.name.clone(),
        });
    }
    Ok(n)
}

/// The `render/refuses/<case>` checks of one cell: those of the chart's
/// negatives file when it names this cell's profile, none otherwise. A
/// file that cannot be used is one failed `render/refuses` trial in each
/// of the chart's cells, never a silently smaller run.
pub fn checks(helm: &Result<Helm, vitals_helm::Error>, cell: &Cell) -> Vec<Check> {
    // The files are the five charts' own: a user's chart that happens to
    // share a name must not pick one up.
    if cell.suite.user {
        return Vec::new();
    }
    let path = dir().join(format!("{}.yaml", cell.suite.name));
    if !path.is_file() {
        return Vec::new();
    }
    match load(&path).and_then(|n| for_chart(&path, &cell.suite, n)) {
        Ok(n) => checks_in(helm, cell, &path, &n),
        Err(e) => vec![Check::ready(
            "render/refuses",
            Verdict::fail(
                cell.prefix(),
                "the chart's schema negatives can be run",
                e.to_string(),
            ),
        )],
    }
}

/// The file is the chart's, for one of its profiles, without harness fields.
fn for_chart(path: &Path, suite: &Suite, n: Negatives) -> Result<Negatives> {
    if n.chart != suite.name {
        return Err(Error::WrongChart {
            path: path.to_path_buf(),
            expected: suite.name.clone(),
            found: n.chart,
        });
    }
    if !suite.profiles.iter().any(|p| p.name == n.profile) {
        return Err(Error::UnknownProfile {
            path: path.to_path_buf(),
            chart: n.chart,
            profile: n.profile,
            known: suite
                .profiles
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if let Some(c) = n.cases.iter().find(|c| c.catches.is_some()) {
        return Err(Error::CatchesOutsideHarness {
            path: path.to_path_buf(),
            case: c.name.clone(),
        });
    }
    Ok(n)
}

/// One check per case, when the file names this cell's profile.
fn checks_in(
    helm: &Result<Helm, vitals_helm::Error>,
    cell: &Cell,
    path: &Path,
    n: &Negatives,
) -> Vec<Check> {
    if n.profile != cell.profile.name {
        return Vec::new();
    }
    n.cases
        .iter()
        .map(|case| {
            let name = format!("render/refuses/{}", case.name);
            match helm {
                Ok(h) => {
                    let (h, cell, path, case) =
                        (h.clone(), cell.clone(), path.to_path_buf(), case.clone());
                    Check::new(name, move || refuses(&h, &cell, &path, &case))
                }
                Err(e) => Check::ready(
                    name,
                    Verdict::fail(
                        subject(cell, case),
                        "helm is available to render the chart",
                        e.to_string(),
                    ),
                ),
            }
        })
        .collect()
}

fn subject(cell: &Cell, case: &Case) -> String {
    format!("{} with case `{}`", cell.prefix(), case.name)
}

/// Renders the cell with the case's values on top: a refusal that names
/// every mention passes.
fn refuses(helm: &Helm, cell: &Cell, path: &Path, case: &Case) -> Verdict {
    let subject = subject(cell, case);
    let values = case.values.to_string();
    let expected = format!(
        "helm template of chart `{}` with the {} profile plus {values} fails, mentioning {:?}",
        cell.suite.name, cell.profile.name, case.mentions
    );
    let file = match write_values(cell, case) {
        Ok(f) => f,
        Err(e) => return Verdict::fail(subject, expected, e.to_string()),
    };
    let mut with_case = cell.clone();
    with_case.profile.values.push(file.clone());
    let listed = format!(
        "the case is `{}` in {}",
        case.name,
        path.strip_prefix(crate::env::root())
            .unwrap_or(path)
            .display()
    );
    // The render tier's own render (same flags, same cache), so the case
    // is refused exactly where the profile renders.
    match render::render(helm, &with_case) {
        Ok(text) => Verdict::fail(
            &subject,
            expected,
            format!(
                "rendered ({} documents): chart `{}` accepts case `{}`, values {values}",
                text.matches("\n---").count().max(1),
                cell.suite.name,
                case.name
            ),
        )
        .with_evidence(Evidence::Note { text: listed })
        .with_hint(format!(
            "tighten values.schema.json for {} (or the chart's `fail` validation) so that {values} is refused",
            keys(&case.values).join(", ")
        )),
        Err(vitals_helm::Error::Exited { argv, code, stderr }) => {
            let missing: Vec<&String> = case
                .mentions
                .iter()
                .filter(|m| !stderr.contains(m.as_str()))
                .collect();
            if missing.is_empty() {
                let said = stderr
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return Verdict::pass(subject, expected, format!("refused: {said}"));
            }
            Verdict::fail(
                subject,
                expected,
                format!("refused, but the error does not mention {missing:?}"),
            )
            .with_evidence(Evidence::Command {
                argv,
                exit: code,
                stderr,
            })
            .with_evidence(Evidence::Note { text: listed })
            .with_hint(
                "make the refusal name the key (a schema constraint on it, or the chart's `fail` message), \
                 or correct the case's `mentions` if helm's wording is right",
            )
        }
        Err(e) => Verdict::fail(subject, expected, format!("helm template could not run: {e}")),
    }
}

/// The case's values as a file helm reads, named by case and content (so
/// parallel runs and processes never write the same path with different
/// text), written then renamed so a reader never sees half of it.
fn write_values(cell: &Cell, case: &Case) -> Result<PathBuf> {
    let text = serde_yaml::to_string(&case.values).unwrap_or_else(|_| case.values.to_string());
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    let dir = crate::env::out_dir().join("schema-negatives");
    let path = dir.join(format!(
        "{}-{}-{:016x}.yaml",
        cell.suite.name,
        case.name,
        h.finish()
    ));
    if path.is_file() {
        return Ok(path);
    }
    let fail = |source| Error::WriteValues {
        case: case.name.clone(),
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(path)
}

/// The dotted keys a case sets (its leaves): what the schema must constrain.
fn keys(values: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let next = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    walk(v, &next, out);
                }
            }
            _ => out.push(if at.is_empty() {
                "<root>".into()
            } else {
                at.into()
            }),
        }
    }
    let mut out = Vec::new();
    walk(values, "", &mut out);
    out
}

/// A judgement of the harness, run as one trial.
pub type Judge = Box<dyn FnOnce() -> Result<()> + Send>;

/// The harness's proof that `render/refuses` can fail: one trial per case
/// of `harness/sample.yaml`, run against the sample chart. A case with
/// `catches` must fail saying each; a case without must pass.
pub fn harness(helm: &Arc<Result<Helm, vitals_helm::Error>>) -> Vec<(String, Judge)> {
    let path = harness_file();
    let n = match load(&path) {
        Ok(n) => n,
        Err(e) => {
            let judge: Judge = Box::new(move || Err(e));
            return vec![("harness/-/render/catches/refuses".into(), judge)];
        }
    };
    n.cases
        .iter()
        .map(|case| {
            let (helm, path, n, case) = (helm.clone(), path.clone(), n.clone(), case.clone());
            let verb = if case.catches.is_some() {
                "catches"
            } else {
                "passes"
            };
            let name = format!("harness/-/render/{verb}/refuses-{}", case.name);
            let judge: Judge = Box::new(move || judge_sample(&helm, &path, &n, &case));
            (name, judge)
        })
        .collect()
}

fn sample_cell(profile: &str) -> Cell {
    Cell::new(
        Arc::new(Suite {
            chart_dir: crate::env::fixtures_dir().join("sample"),
            name: "sample".into(),
            release: "sample".into(),
            ..Default::default()
        }),
        Profile {
            name: profile.into(),
            values: Vec::new(),
            prod: true,
        },
    )
}

fn judge_sample(
    helm: &Result<Helm, vitals_helm::Error>,
    path: &Path,
    n: &Negatives,
    case: &Case,
) -> Result<()> {
    let trial = format!("render/refuses/{}", case.name);
    let cell = sample_cell(&n.profile);
    let checks = checks_in(helm, &cell, path, n);
    let Some(check) = checks.iter().find(|c| c.name == trial) else {
        return Err(Error::NotDerived {
            path: path.to_path_buf(),
            case: case.name.clone(),
            trial,
        });
    };
    let v = (check.run)();
    let verdict = v.to_string();
    match &case.catches {
        None if v.failed() => Err(Error::FalseAlarm {
            case: case.name.clone(),
            trial,
            verdict,
        }),
        None => Ok(()),
        Some(_) if !v.failed() => Err(Error::NotCaught {
            case: case.name.clone(),
            trial,
            verdict,
        }),
        Some(mentions) => {
            let missing: Vec<String> = mentions
                .iter()
                .filter(|m| !verdict.contains(m.as_str()))
                .cloned()
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Error::MessageLacks {
                    case: case.name.clone(),
                    trial,
                    missing,
                    verdict,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_names_every_key_a_case_sets() {
        let v = serde_json::json!({"server": {"replicaCount": 0, "resources": {"requests": {"memory": "512K"}}}});
        assert_eq!(
            keys(&v),
            ["server.replicaCount", "server.resources.requests.memory"]
        );
    }

    #[test]
    fn every_charts_negatives_file_parses_with_unique_cases() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.push(harness_file());
        assert!(files.len() > 1, "{files:?}");
        for f in files {
            let n = load(&f).unwrap_or_else(|e| panic!("{e}"));
            assert!(!n.cases.is_empty(), "{}", f.display());
        }
    }

    #[test]
    fn a_case_listed_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        let case = "  - {name: a, values: {x: 1}, mentions: [x]}\n";
        std::fs::write(&p, format!("chart: x\nprofile: prod\ncases:\n{case}{case}")).unwrap();
        let e = load(&p).unwrap_err();
        assert!(
            matches!(&e, Error::DuplicateCase { case, .. } if case == "a"),
            "{e}"
        );
    }
}
