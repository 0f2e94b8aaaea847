use std::collections::hash_map::DefaultHasher;
use std::ffi::OsString;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::lint::LintReport;
use crate::{Chart, Error, Result};

/// Which helm is in use. Flags differ slightly between majors; the driver
/// hides that from callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmVersion {
    pub major: u32,
    pub minor: u32,
    pub raw: String,
}

impl HelmVersion {
    pub fn parse(raw: &str) -> Result<HelmVersion> {
        let raw = raw.trim();
        let core = raw.trim_start_matches('v');
        let mut parts = core.split(['.', '+', '-']);
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        match (major, minor) {
            (Some(major @ (3 | 4)), Some(minor)) => Ok(HelmVersion {
                major,
                minor,
                raw: raw.to_string(),
            }),
            _ => Err(Error::UnsupportedVersion {
                found: raw.to_string(),
            }),
        }
    }
}

/// Options for `helm template`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TemplateOpts {
    /// `--kube-version`: render as for this cluster version.
    pub kube_version: Option<String>,
    /// `--api-versions`: extra APIs `.Capabilities.APIVersions` reports, so
    /// gated objects (ServiceMonitor, VPA) can be rendered on purpose.
    pub api_versions: Vec<String>,
    /// `--set` pairs, applied after the values files.
    pub set: Vec<(String, String)>,
    /// `--set-string` pairs, after `set`: the value stays a string however
    /// it reads (a token of digits would otherwise become a number).
    pub set_string: Vec<(String, String)>,
}

impl TemplateOpts {
    pub fn kube_version(mut self, v: impl Into<String>) -> Self {
        self.kube_version = Some(v.into());
        self
    }
    pub fn api_version(mut self, v: impl Into<String>) -> Self {
        self.api_versions.push(v.into());
        self
    }
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set.push((key.into(), value.into()));
        self
    }
    pub fn set_string(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_string.push((key.into(), value.into()));
        self
    }
}

/// Options for `helm upgrade --install`. Readiness is the harness's own
/// (watch-based), so helm is never asked to `--wait`.
#[derive(Debug, Clone)]
#[must_use]
pub struct InstallOpts {
    pub timeout: Duration,
    pub kubeconfig: Option<PathBuf>,
    pub create_namespace: bool,
    /// `--set-string` pairs, applied after the values files: one value
    /// changed on top of the same files (a new pod-template token).
    pub set_string: Vec<(String, String)>,
}

impl Default for InstallOpts {
    fn default() -> Self {
        InstallOpts {
            timeout: Duration::from_secs(300),
            kubeconfig: None,
            create_namespace: false,
            set_string: Vec::new(),
        }
    }
}

impl InstallOpts {
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn kubeconfig(mut self, p: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(p.into());
        self
    }
    pub fn create_namespace(mut self, yes: bool) -> Self {
        self.create_namespace = yes;
        self
    }
    pub fn set_string(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_string.push((key.into(), value.into()));
        self
    }
}

/// A located, version-checked helm binary.
#[derive(Debug, Clone)]
pub struct Helm {
    bin: PathBuf,
    version: HelmVersion,
}

impl Helm {
    /// Finds helm: `E2E_HELM` if set, else `helm` on PATH. The version is
    /// checked once here so later calls can rely on it.
    pub fn discover() -> Result<Helm> {
        let candidate = std::env::var_os("E2E_HELM").unwrap_or_else(|| OsString::from("helm"));
        Helm::at(PathBuf::from(candidate))
    }

    pub fn at(bin: impl Into<PathBuf>) -> Result<Helm> {
        let bin = bin.into();
        let argv = format!("{} version --template {{{{.Version}}}}", bin.display());
        let out = Command::new(&bin)
            .args(["version", "--template", "{{.Version}}"])
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    tried: format!("`{}` (E2E_HELM, then PATH)", bin.display()),
                })
            }
            Err(source) => return Err(Error::Spawn { argv, source }),
        };
        let out = check(argv, out)?;
        let version = HelmVersion::parse(&String::from_utf8_lossy(&out.stdout))?;
        Ok(Helm { bin, version })
    }

    pub fn version(&self) -> &HelmVersion {
        &self.version
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let (argv, out) = self.output(args)?;
        check(argv, out)
    }

    /// Runs helm and returns its printed argv and output, whatever it exited with.
    fn output<I, S>(&self, args: I) -> Result<(String, Output)>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let argv = std::iter::once(self.bin.as_os_str().to_owned())
            .chain(args.iter().cloned())
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new(&self.bin)
            .args(&args)
            // helm would otherwise try to reach repositories it has cached
            // indexes for; vitals is air-gapped by design.
            .env("HELM_NO_PLUGINS", "1")
            .output()
            .map_err(|source| Error::Spawn {
                argv: argv.clone(),
                source,
            })?;
        Ok((argv, out))
    }

    /// Runs `helm dependency build` for the chart and every `file://`
    /// dependency beneath it, deepest first. A content stamp skips the work
    /// when nothing changed, and a lock keeps parallel test processes (one
    /// per trial under nextest) from packaging the same chart at once.
    pub fn dependency_build(&self, chart: &Chart) -> Result<()> {
        for c in chart.local_dependency_order()? {
            // Vendored dependencies (charts/*.tgz as Chart.lock pins them,
            // none from file://) are used as they are: a build could only
            // fetch the same archives again, over the network.
            if c.meta.dependencies.is_empty() || vendored(&c) {
                continue;
            }
            let key = stamp_key(&c.dir);
            let dir = std::env::temp_dir().join("vitals-helm-deps");
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let lock_path = dir.join(format!("{key:016x}.lock"));
            let lock = File::create(&lock_path).map_err(|source| Error::Io {
                path: lock_path.clone(),
                source,
            })?;
            lock.lock().map_err(|source| Error::Io {
                path: lock_path.clone(),
                source,
            })?;
            let stamp_path = dir.join(format!("{key:016x}.stamp"));
            let content = content_hash(&c)?;
            // The stamp lives outside the checkout, so a fresh clone at the
            // same path must not trust it: every dependency has to be there.
            let fresh = std::fs::read_to_string(&stamp_path).ok().as_deref()
                == Some(content.as_str())
                && c.meta
                    .dependencies
                    .iter()
                    .all(|d| dependency_present(&c.dir, d));
            if !fresh {
                self.run([
                    OsString::from("dependency"),
                    "build".into(),
                    "--skip-refresh".into(),
                    c.dir.clone().into(),
                ])?;
                std::fs::write(&stamp_path, &content).map_err(|source| Error::Io {
                    path: stamp_path.clone(),
                    source,
                })?;
            }
            drop(lock);
        }
        Ok(())
    }

    /// `helm lint [--strict]` with the given values files. A lint that
    /// reports errors is not an `Err`: the report says what failed.
    pub fn lint(&self, chart: &Chart, values: &[PathBuf], strict: bool) -> Result<LintReport> {
        let mut args: Vec<OsString> = vec!["lint".into(), chart.dir.clone().into()];
        if strict {
            args.push("--strict".into());
        }
        for v in values {
            readable(v)?;
            args.push("-f".into());
            args.push(v.clone().into());
        }
        // helm prints findings on stdout even when it fails, and the
        // summary on stderr; the report is read from both.
        let argv = format!(
            "{} {}",
            self.bin.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = Command::new(&self.bin)
            .args(&args)
            .output()
            .map_err(|source| Error::Spawn {
                argv: argv.clone(),
                source,
            })?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = LintReport::parse(&text, out.status.success());
        if !out.status.success()
            && report
                .findings
                .iter()
                .all(|f| f.severity == crate::Severity::Info)
        {
            return Err(Error::Exited {
                argv,
                code: out.status.code().unwrap_or(-1),
                stderr: text,
            });
        }
        Ok(report)
    }

    /// `helm template` with the given values; returns the multi-document YAML.
    pub fn template(
        &self,
        chart: &Chart,
        release: &str,
        namespace: &str,
        values: &[PathBuf],
        opts: &TemplateOpts,
    ) -> Result<String> {
        let mut args: Vec<OsString> = vec![
            "template".into(),
            release.into(),
            chart.dir.clone().into(),
            "--namespace".into(),
            namespace.into(),
            // Hooks and `helm test` pods are part of what a chart promises;
            // checks see them too.
            "--include-crds".into(),
        ];
        for v in values {
            readable(v)?;
            args.push("-f".into());
            args.push(v.clone().into());
        }
        if let Some(kv) = &opts.kube_version {
            args.push("--kube-version".into());
            args.push(kv.into());
        }
        for api in &opts.api_versions {
            args.push("--api-versions".into());
            args.push(api.into());
        }
        for (k, v) in &opts.set {
            args.push("--set".into());
            args.push(format!("{k}={v}").into());
        }
        push_set_string(&mut args, &opts.set_string);
        let out = self.run(args)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `helm upgrade --install` without `--wait`: the harness watches
    /// readiness itself and explains failures with causes.
    pub fn upgrade_install(
        &self,
        chart: &Chart,
        release: &str,
        namespace: &str,
        values: &[PathBuf],
        opts: &InstallOpts,
    ) -> Result<()> {
        let mut args: Vec<OsString> = vec![
            "upgrade".into(),
            "--install".into(),
            release.into(),
            chart.dir.clone().into(),
            "--namespace".into(),
            namespace.into(),
            "--timeout".into(),
            format!("{}s", opts.timeout.as_secs()).into(),
        ];
        if opts.create_namespace {
            args.push("--create-namespace".into());
        }
        if let Some(k) = &opts.kubeconfig {
            args.push("--kubeconfig".into());
            args.push(k.clone().into());
        }
        for v in values {
            readable(v)?;
            args.push("-f".into());
            args.push(v.clone().into());
        }
        push_set_string(&mut args, &opts.set_string);
        self.run(args).map(drop)
    }

    /// `helm test --logs`: runs the release's test hooks and prints their
    /// pods' logs. A failed hook is an outcome ([`TestRun::passed`]), not an
    /// error; only helm not running at all is.
    pub fn test(
        &self,
        release: &str,
        namespace: &str,
        kubeconfig: Option<&Path>,
        timeout: Duration,
    ) -> Result<TestRun> {
        let mut args = release_args("test", release, namespace, kubeconfig);
        args.push("--logs".into());
        args.push("--timeout".into());
        args.push(format!("{}s", timeout.as_secs()).into());
        let (argv, out) = self.output(args)?;
        Ok(TestRun {
            argv,
            exit: out.status.code().unwrap_or(-1),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }

    /// `helm get all`: the release's values, manifest, hooks and notes as
    /// helm stored them (what a diagnostics bundle keeps).
    pub fn get_all(
        &self,
        release: &str,
        namespace: &str,
        kubeconfig: Option<&Path>,
    ) -> Result<String> {
        let out = self.run(release_args("get", release, namespace, kubeconfig))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn uninstall(
        &self,
        release: &str,
        namespace: &str,
        kubeconfig: Option<&Path>,
    ) -> Result<()> {
        let mut args: Vec<OsString> = vec![
            "uninstall".into(),
            release.into(),
            "--namespace".into(),
            namespace.into(),
        ];
        if let Some(k) = kubeconfig {
            args.push("--kubeconfig".into());
            args.push(k.into());
        }
        self.run(args).map(drop)
    }
}

/// What one `helm test` run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The command as run, for the evidence.
    pub argv: String,
    pub exit: i32,
    /// stdout then stderr: the hook pods' logs and helm's verdict.
    pub output: String,
}

impl TestRun {
    pub fn passed(&self) -> bool {
        self.exit == 0
    }
}

/// `<verb> [all] <release> --namespace <ns> [--kubeconfig <file>]`.
fn release_args(
    verb: &str,
    release: &str,
    namespace: &str,
    kubeconfig: Option<&Path>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![verb.into()];
    if verb == "get" {
        args.push("all".into());
    }
    args.extend([release.into(), "--namespace".into(), namespace.into()]);
    if let Some(k) = kubeconfig {
        args.push("--kubeconfig".into());
        args.push(k.into());
    }
    args
}

/// `--set-string k=v` for each pair, after the values files so they win.
fn push_set_string(args: &mut Vec<OsString>, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        args.push("--set-string".into());
        args.push(format!("{k}={v}").into());
    }
}

fn readable(path: &Path) -> Result<()> {
    File::open(path)
        .map(drop)
        .map_err(|source| Error::ValuesUnreadable {
            path: path.to_path_buf(),
            source,
        })
}

fn check(argv: String, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.trim().is_empty() {
            stderr = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        Err(Error::Exited {
            argv,
            code: out.status.code().unwrap_or(-1),
            stderr,
        })
    }
}

fn stamp_key(dir: &Path) -> u64 {
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut h = DefaultHasher::new();
    canon.hash(&mut h);
    h.finish()
}

/// Hash of every source file of the chart's `file://` dependencies (packaged
/// archives and lock files excluded, since `dependency build` writes those).
fn content_hash(chart: &Chart) -> Result<String> {
    let mut h = DefaultHasher::new();
    for dep in &chart.meta.dependencies {
        if let Some(dir) = dep.local_dir(&chart.dir) {
            hash_tree(&dir, &mut h)?;
        }
    }
    Ok(format!("{:016x}", h.finish()))
}

fn hash_tree(dir: &Path, h: &mut DefaultHasher) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tgz") || name == "Chart.lock" {
            continue;
        }
        if p.is_dir() {
            hash_tree(&p, h)?;
        } else {
            name.hash(h);
            std::fs::read(&p)
                .map_err(|source| Error::Io {
                    path: p.clone(),
                    source,
                })?
                .hash(h);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("v3.22.0", 3, 22)]
    #[case("v4.3.1", 4, 3)]
    #[case("v4.0.0-rc.1", 4, 0)]
    fn supported_versions_parse(#[case] raw: &str, #[case] major: u32, #[case] minor: u32) {
        let v = HelmVersion::parse(raw).unwrap();
        assert_eq!((v.major, v.minor), (major, minor));
    }

    #[rstest]
    #[case("v2.17.0")]
    #[case("garbage")]
    fn other_versions_are_refused_by_name(#[case] raw: &str) {
        let err = HelmVersion::parse(raw).unwrap_err().to_string();
        assert!(
            err.contains(raw) && err.contains("supported: 3.x, 4.x"),
            "{err}"
        );
    }

    /// A stand-in helm that reports a version and writes every other
    /// call's arguments, one a line, next to itself.
    #[cfg(unix)]
    fn recording_helm(dir: &Path) -> (Helm, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let argv = dir.join("argv");
        let bin = dir.join("helm");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\n[ \"$1\" = version ] && {{ printf v3.15.0; exit 0; }}\nprintf '%s\\n' \"$@\" > '{}'\n",
                argv.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        (Helm::at(&bin).unwrap(), argv)
    }

    #[cfg(unix)]
    #[test]
    fn a_test_run_asks_for_the_logs_of_the_release_in_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let (helm, argv) = recording_helm(dir.path());
        let kubeconfig = dir.path().join("kubeconfig");
        let run = helm
            .test(
                "medplum",
                "medplum-dev",
                Some(&kubeconfig),
                Duration::from_secs(300),
            )
            .unwrap();
        assert!(run.passed());
        let recorded = std::fs::read_to_string(argv).unwrap();
        let args: Vec<&str> = recorded.lines().collect();
        assert_eq!(args[..4], ["test", "medplum", "--namespace", "medplum-dev"]);
        assert!(recorded.contains("--logs\n--timeout\n300s\n"), "{recorded}");
        assert!(
            recorded.contains(&format!("--kubeconfig\n{}\n", kubeconfig.display())),
            "{recorded}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_failed_test_hook_is_an_outcome_with_what_helm_printed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("helm");
        std::fs::write(
            &bin,
            "#!/bin/sh\n[ \"$1\" = version ] && { printf v4.3.1; exit 0; }\necho 'POD LOGS: web-test'; echo 'Error: 1 test failed' >&2; exit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = Helm::at(&bin)
            .unwrap()
            .test("web", "ns", None, Duration::from_secs(60))
            .unwrap();
        assert!(!run.passed());
        assert_eq!(run.exit, 1);
        assert_eq!(run.output, "POD LOGS: web-test\nError: 1 test failed\n");
    }

    #[cfg(unix)]
    #[test]
    fn an_upgrade_sets_its_string_after_the_values_files_so_it_wins() {
        let dir = tempfile::tempdir().unwrap();
        let (helm, argv) = recording_helm(dir.path());
        let values = dir.path().join("prod.yaml");
        std::fs::write(&values, "global: {}\n").unwrap();
        let chart = Chart {
            dir: dir.path().to_path_buf(),
            meta: serde_yaml::from_str("name: web\nversion: 0.1.0").unwrap(),
        };
        let opts = InstallOpts::default().set_string("global.rolloutToken", "1700000000000");
        helm.upgrade_install(
            &chart,
            "web",
            "web-prod",
            std::slice::from_ref(&values),
            &opts,
        )
        .unwrap();
        let args = std::fs::read_to_string(&argv).unwrap();
        let args: Vec<&str> = args.lines().collect();
        let f = args
            .iter()
            .position(|a| *a == values.to_str().unwrap())
            .unwrap();
        let s = args.iter().position(|a| *a == "--set-string").unwrap();
        assert!(s > f, "{args:?}");
        assert_eq!(args[s + 1], "global.rolloutToken=1700000000000");
        assert_eq!(&args[..3], ["upgrade", "--install", "web"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_template_passes_set_string_pairs_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let (helm, argv) = recording_helm(dir.path());
        let chart = Chart {
            dir: dir.path().to_path_buf(),
            meta: serde_yaml::from_str("name: web\nversion: 0.1.0").unwrap(),
        };
        let opts = TemplateOpts::default().set_string("global.rolloutToken", "42");
        helm.template(&chart, "web", "ns", &[], &opts).unwrap();
        let args = std::fs::read_to_string(&argv).unwrap();
        assert!(
            args.contains("--set-string\nglobal.rolloutToken=42\n"),
            "{args}"
        );
    }

    #[test]
    fn a_missing_binary_says_how_to_get_one() {
        let err = Helm::at("/nonexistent/helm").unwrap_err().to_string();
        assert!(
            err.contains("helm not found") && err.contains("make setup"),
            "{err}"
        );
    }
}

/// A dependency is in `charts/`: packaged (`<name>-<version>.tgz`) or as a
/// chart directory of that name.
/// Every dependency of the chart is a remote one already packaged in
/// `charts/`, at the version Chart.lock pins when there is a lock.
fn vendored(chart: &Chart) -> bool {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        dependencies: Vec<crate::chart::Dependency>,
    }
    if chart
        .meta
        .dependencies
        .iter()
        .any(|d| d.local_dir(&chart.dir).is_some())
    {
        return false;
    }
    let lock: Option<Lock> = std::fs::read_to_string(chart.dir.join("Chart.lock"))
        .ok()
        .and_then(|t| serde_yaml::from_str(&t).ok());
    chart.meta.dependencies.iter().all(|d| match &lock {
        Some(lock) => lock.dependencies.iter().any(|l| {
            l.name == d.name
                && l.version.as_deref().is_some_and(|v| {
                    chart
                        .dir
                        .join("charts")
                        .join(format!("{}-{v}.tgz", d.name))
                        .is_file()
                })
        }),
        None => dependency_present(&chart.dir, d),
    })
}

fn dependency_present(chart_dir: &std::path::Path, d: &crate::chart::Dependency) -> bool {
    let charts = chart_dir.join("charts");
    if charts.join(&d.name).join("Chart.yaml").is_file() {
        return true;
    }
    let prefix = format!("{}-", d.name);
    std::fs::read_dir(&charts)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .any(|n| {
                    n.ends_with(".tgz")
                        && n.strip_prefix(&prefix).is_some_and(|rest| {
                            d.version.as_deref().is_none_or(|v| {
                                rest == format!("{v}.tgz")
                                    || v.contains(['^', '~', '*', '>', '<', 'x'])
                            })
                        })
                })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod dependency_tests {
    use super::*;
    use crate::chart::Dependency;

    fn dep(name: &str, version: &str) -> Dependency {
        Dependency {
            name: name.into(),
            version: Some(version.into()),
            repository: Some("file://../x".into()),
        }
    }

    // A fresh clone at the path of an earlier one has a valid stamp outside
    // the checkout but no packaged dependencies: it must rebuild.
    #[test]
    fn a_dependency_counts_only_when_its_archive_or_chart_is_in_charts() {
        let dir = tempfile::tempdir().unwrap();
        let charts = dir.path().join("charts");
        std::fs::create_dir_all(charts.join("rest-api")).unwrap();
        std::fs::write(charts.join("rest-api/Chart.yaml"), "name: rest-api").unwrap();
        assert!(dependency_present(dir.path(), &dep("rest-api", "0.1.0")));
        assert!(!dependency_present(
            dir.path(),
            &dep("vitals-common", "0.1.0")
        ));
        std::fs::write(charts.join("vitals-common-0.1.0.tgz"), b"").unwrap();
        assert!(dependency_present(
            dir.path(),
            &dep("vitals-common", "0.1.0")
        ));
        assert!(!dependency_present(
            dir.path(),
            &dep("vitals-common", "0.2.0")
        ));
    }
}
