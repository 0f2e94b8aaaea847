//! A user's chart (`E2E_CHART`) as the harness works on it: a copy under
//! the output directory, so neither `helm dependency build` nor anything
//! else writes into the user's folder, and a packaged `.tgz` unpacked the
//! same way. The copy is named by its content, so parallel trial processes
//! (nextest) share one and a changed chart gets a fresh one.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the working copy `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a packaged chart tar xzf can read: {stderr}", path.display())]
    Unpack { path: PathBuf, stderr: String },
    #[error("`{}` holds no chart (no */Chart.yaml inside)", path.display())]
    EmptyPackage { path: PathBuf },
}

/// Where the chart is worked on, and the path the user gave (for messages).
pub struct WorkingCopy {
    pub dir: PathBuf,
    pub shown: PathBuf,
}

/// The working copy of the chart at `path` (a directory or a `.tgz`). A
/// path that is neither is handed back as it is, so the caller's "chart not
/// found" names it.
pub fn working_copy(path: &Path) -> Result<WorkingCopy, CopyError> {
    let root = crate::env::out_dir().join("user-charts");
    if path.is_file() && path.to_string_lossy().ends_with(".tgz") {
        let bytes = std::fs::read(path).map_err(|source| CopyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let dest = root.join(format!("tgz-{:016x}", h.finish()));
        if !dest.is_dir() {
            let tmp = temp_beside(&dest)?;
            let out = Command::new("tar")
                .arg("-xzf")
                .arg(path)
                .arg("-C")
                .arg(&tmp)
                .output()
                .map_err(|source| CopyError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            if !out.status.success() {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(CopyError::Unpack {
                    path: path.to_path_buf(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            publish(&tmp, &dest)?;
        }
        let chart = std::fs::read_dir(&dest)
            .map_err(|source| CopyError::Read {
                path: dest.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.join("Chart.yaml").is_file())
            .ok_or_else(|| CopyError::EmptyPackage {
                path: path.to_path_buf(),
            })?;
        return Ok(WorkingCopy {
            dir: chart,
            shown: path.to_path_buf(),
        });
    }
    if !path.join("Chart.yaml").is_file() {
        return Ok(WorkingCopy {
            dir: path.to_path_buf(),
            shown: path.to_path_buf(),
        });
    }
    // The chart and every `file://` chart it depends on, copied with their
    // layout (relative to the directory they share), so relative
    // dependency paths and Chart.lock stay valid in the copy.
    let home = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut all: Vec<PathBuf> = vitals_helm::Chart::open(path)
        .and_then(|c| c.local_dependency_order())
        .map(|cs| {
            cs.iter()
                .filter_map(|c| std::fs::canonicalize(&c.dir).ok())
                .collect()
        })
        .unwrap_or_default();
    all.push(home.clone());
    all.sort();
    all.dedup();
    // A subchart inside another copied tree comes with it.
    let trees: Vec<PathBuf> = all
        .iter()
        .filter(|t| !all.iter().any(|o| o != *t && t.starts_with(o)))
        .cloned()
        .collect();
    let base = trees
        .iter()
        .map(|t| t.parent().unwrap_or(t).to_path_buf())
        .reduce(|a, b| common_ancestor(&a, &b))
        .unwrap_or_else(|| home.clone());
    let rel = |t: &Path| t.strip_prefix(&base).unwrap_or(t).to_path_buf();
    let mut h = DefaultHasher::new();
    for t in &trees {
        rel(t).hash(&mut h);
        hash_tree(t, &mut h).map_err(|source| CopyError::Read {
            path: t.clone(),
            source,
        })?;
    }
    // The chart's directory keeps its name: helm checks that a chart's
    // directory and its name agree for some dependency layouts.
    let dir = root.join(format!("{:016x}", h.finish()));
    let dest = dir.join(rel(&home));
    if !dest.join("Chart.yaml").is_file() {
        let tmp = temp_beside(&dir)?;
        for t in &trees {
            copy_tree(t, &tmp.join(rel(t))).map_err(|source| CopyError::Write {
                path: tmp.clone(),
                source,
            })?;
        }
        publish(&tmp, &dir)?;
    }
    Ok(WorkingCopy {
        dir: dest,
        shown: path.to_path_buf(),
    })
}

fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

fn temp_beside(dest: &Path) -> Result<PathBuf, CopyError> {
    let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|source| CopyError::Write {
        path: tmp.clone(),
        source,
    })?;
    Ok(tmp)
}

/// Renames a finished copy into place; another process that got there
/// first made the same copy, so its is kept.
fn publish(tmp: &Path, dest: &Path) -> Result<(), CopyError> {
    if std::fs::rename(tmp, dest).is_err() {
        let _ = std::fs::remove_dir_all(tmp);
        if !dest.is_dir() {
            return Err(CopyError::Write {
                path: dest.to_path_buf(),
                source: std::io::Error::other("rename failed"),
            });
        }
    }
    Ok(())
}

fn skipped(name: &std::ffi::OsStr) -> bool {
    name == ".git"
}

fn hash_tree(dir: &Path, h: &mut DefaultHasher) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if skipped(&name) {
            continue;
        }
        let p = e.path();
        name.hash(h);
        if p.is_dir() {
            hash_tree(&p, h)?;
        } else {
            std::fs::read(&p)?.hash(h);
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if skipped(&e.file_name()) {
            continue;
        }
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}
