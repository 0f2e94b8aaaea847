use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// A chart directory on disk with its parsed `Chart.yaml`.
#[derive(Debug, Clone)]
pub struct Chart {
    pub dir: PathBuf,
    pub meta: ChartMeta,
}

/// The parts of `Chart.yaml` the harness reads. Unknown keys are allowed:
/// helm owns that schema, and `helm lint` reports on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub app_version: Option<String>,
    #[serde(default, rename = "type")]
    pub chart_type: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
}

impl Dependency {
    /// The local directory of a `file://` dependency, resolved against the
    /// depending chart's directory.
    pub fn local_dir(&self, chart_dir: &Path) -> Option<PathBuf> {
        let repo = self.repository.as_deref()?;
        let rel = repo.strip_prefix("file://")?;
        Some(chart_dir.join(rel))
    }
}

impl Chart {
    /// Opens a chart directory; a missing or unparsable `Chart.yaml` is an
    /// error naming the file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Chart> {
        let dir = dir.as_ref().to_path_buf();
        let file = dir.join("Chart.yaml");
        let text = std::fs::read_to_string(&file)
            .map_err(|_| Error::ChartMissing { path: dir.clone() })?;
        let meta: ChartMeta = serde_yaml::from_str(&text).map_err(|e| Error::ChartInvalid {
            path: file.clone(),
            message: e.to_string(),
        })?;
        Ok(Chart { dir, meta })
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    pub fn is_library(&self) -> bool {
        self.meta.chart_type.as_deref() == Some("library")
    }

    /// Charts this one depends on through `file://`, depth first, each once,
    /// dependencies before dependents: the order `helm dependency build`
    /// must run in, since it packages each dependency as it is on disk.
    pub fn local_dependency_order(&self) -> Result<Vec<Chart>> {
        let mut out: Vec<Chart> = Vec::new();
        self.visit(&mut out, 0)?;
        Ok(out)
    }

    fn visit(&self, out: &mut Vec<Chart>, depth: usize) -> Result<()> {
        if depth > 16 {
            return Err(Error::ChartInvalid {
                path: self.dir.join("Chart.yaml"),
                message: "file:// dependencies nest deeper than 16 levels (a cycle?)".into(),
            });
        }
        for dep in &self.meta.dependencies {
            if let Some(dir) = dep.local_dir(&self.dir) {
                let child = Chart::open(&dir)?;
                child.visit(out, depth + 1)?;
            }
        }
        let canon = std::fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        if !out
            .iter()
            .any(|c| std::fs::canonicalize(&c.dir).unwrap_or_else(|_| c.dir.clone()) == canon)
        {
            out.push(self.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_chart(dir: &Path, body: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("Chart.yaml"), body).unwrap();
    }

    #[test]
    fn missing_chart_names_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Chart::open(tmp.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(err.to_string().contains("has no Chart.yaml"), "{err}");
    }

    #[test]
    fn dependencies_come_before_dependents_and_only_once() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = tmp.path().join("lib");
        write_chart(
            &lib,
            "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n",
        );
        write_chart(
            &tmp.path().join("umbrella/charts/sub"),
            "apiVersion: v2\nname: sub\nversion: 0.1.0\ndependencies:\n- name: lib\n  repository: file://../../../lib\n",
        );
        write_chart(
            &tmp.path().join("umbrella"),
            "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: sub\n  repository: file://charts/sub\n- name: lib\n  repository: file://../lib\n",
        );
        let order: Vec<String> = Chart::open(tmp.path().join("umbrella"))
            .unwrap()
            .local_dependency_order()
            .unwrap()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        assert_eq!(order, ["lib", "sub", "umbrella"]);
    }
}
