//! What makes a suite spec, a chart's `vitals.yaml` or the env a user set
//! unusable, each error naming the file (and the field) the user edits.

use std::path::{Path, PathBuf};

use super::CHART_CONFIG;

#[derive(Debug, thiserror::Error)]
pub enum SpecErrorKind {
    #[error("cannot be read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("field `{path}`: {message}")]
    Invalid { path: String, message: String },
    #[error("chart `{}` not found (no Chart.yaml there)", .0.display())]
    ChartMissing(PathBuf),
    #[error("profile `{profile}`: values file `{}` not found", file.display())]
    ValuesMissing { profile: String, file: PathBuf },
    #[error("no profiles: list at least one under `profiles` (e.g. dev: [values-dev.yaml])")]
    NoProfiles,
    #[error("{0}")]
    Chart(#[source] vitals_helm::Error),
    // The values error is the whole message (file, line): not repeated as a cause.
    #[error("profile `{profile}`: {error}")]
    Values {
        profile: String,
        error: vitals_checks::values::ValuesError,
    },
    #[error("values files `{}` and `{}` both make profile `{profile}` (rename one, or name the profiles in a suite spec)", first.display(), second.display())]
    ProfileClash {
        profile: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("field `{field}` conflicts with {env}: {why}")]
    ConflictsWithEnv {
        field: String,
        env: &'static str,
        why: String,
    },
    #[error("field `{field}.because`: a waiver needs its reason")]
    WaiverWithoutReason { field: String },
    #[error("field `{field}`: unknown policy family `{name}` (known: {known})")]
    UnknownFamily {
        field: String,
        name: String,
        known: String,
    },
    #[error("field `{field}`: the waiver of `render/{rule}/{object}` matches no trial of any profile\n(hint: write the rule and object as they read in trial names: `cargo test -p e2e --test e2e -- --list`)")]
    WaiverUnused {
        field: String,
        rule: String,
        object: String,
    },
    #[error("cannot prepare the chart: {0}")]
    Prepare(String),
}

/// A suite spec (or `vitals.yaml`, or the env a user set) that cannot be
/// used, naming the file.
#[derive(Debug)]
pub struct SpecError {
    pub spec_file: PathBuf,
    pub kind: SpecErrorKind,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.spec_file.display().to_string();
        let what = if file.starts_with("E2E_") {
            ""
        } else if self
            .spec_file
            .file_name()
            .is_some_and(|n| n == CHART_CONFIG)
        {
            "chart config "
        } else if self
            .spec_file
            .file_name()
            .is_some_and(|n| n == "Chart.yaml")
        {
            ""
        } else {
            "suite spec "
        };
        write!(f, "{what}`{file}`: {}", self.kind)
    }
}

/// The kind is already in the message; the chain goes on from its cause.
impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

pub(super) fn err(spec_file: &Path, kind: SpecErrorKind) -> SpecError {
    SpecError {
        spec_file: spec_file.to_path_buf(),
        kind,
    }
}
