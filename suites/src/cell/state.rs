//! Every file a cell shares with other trial processes and later runs, in
//! one place: `<out>/cells/<namespace>.<ext>`, beside its install lease.
//!
//! | file | written by | meaning |
//! | --- | --- | --- |
//! | `lock` | the installer | flock: one installer per cell across processes |
//! | `stamp` | the installer, after helm succeeded | what is installed (a hash of the rendered objects) |
//! | `need` | the installer | the cell's peak request, for other installers' room |
//! | `failed` | a failing trial (nextest) | scale the cell to zero, do not delete it |
//! | `markers.json` | an upgrade cell's first install | what was written onto each claim |
//! | `stages.lock` | every trial (nextest) | flock: the cell's stages exclude each other |
//! | `scaled-down` | take-down of a failed cell | the next install replaces it whole |
//!
//! Writes go to a temporary file renamed into place, so a process reading a
//! stamp or a need while another writes it sees the old content or the new,
//! never half of one (readers run beside writers under nextest).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What an upgrade cell's first install left on one claim. It crosses
/// processes in `markers.json`, so a failure is kept as its printed
/// message (with its causes), not as the error value. The variants keep
/// the file's `{"Ok": ..}` / `{"Err": ..}` shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Marker {
    /// The marker written onto the claim.
    #[serde(rename = "Ok")]
    Written(String),
    /// Why none was written.
    #[serde(rename = "Err")]
    NotWritten(String),
}

impl<E: std::fmt::Display> From<Result<String, E>> for Marker {
    fn from(written: Result<String, E>) -> Marker {
        match written {
            Ok(m) => Marker::Written(m),
            Err(e) => Marker::NotWritten(e.to_string()),
        }
    }
}

/// The per-cell files of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellState {
    ns: String,
    dir: PathBuf,
}

/// The kinds of per-cell file (their extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellFile {
    Lock,
    Stamp,
    Need,
    Failed,
    Markers,
    StagesLock,
    ScaledDown,
}

impl CellFile {
    pub fn ext(self) -> &'static str {
        match self {
            CellFile::Lock => "lock",
            CellFile::Stamp => "stamp",
            CellFile::Need => "need",
            CellFile::Failed => "failed",
            CellFile::Markers => "markers.json",
            CellFile::StagesLock => "stages.lock",
            CellFile::ScaledDown => "scaled-down",
        }
    }
}

/// Writes `bytes` to `path` through a sibling temporary file and a rename:
/// readers never see a partial file, and two writers at once leave one of
/// the two whole contents. The directory is created if missing.
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Unique per process and thread: two writers never share a temp file.
    let tmp = path.with_extension(format!(
        "{}.tmp.{}.{:?}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// A lock file opened for `flock`, created if missing and never truncated
/// (whoever holds it keeps holding the same inode).
pub fn open_lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

impl CellState {
    /// The files of the cell installed into `ns` on this run's cluster,
    /// under the run's output: `<out>/cells/<cluster>/` (see
    /// `env::cell_file` for why the cluster is part of the key).
    pub fn of(ns: &str) -> CellState {
        CellState::at(
            &crate::env::out_dir()
                .join("cells")
                .join(crate::env::cluster_key()),
            ns,
        )
    }

    /// The same under another directory (tests).
    pub fn at(dir: &Path, ns: &str) -> CellState {
        CellState {
            ns: ns.to_string(),
            dir: dir.to_path_buf(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.ns
    }

    pub fn path(&self, f: CellFile) -> PathBuf {
        self.dir.join(format!("{}.{}", self.ns, f.ext()))
    }

    fn read(&self, f: CellFile) -> Option<String> {
        std::fs::read_to_string(self.path(f)).ok()
    }

    fn write(&self, f: CellFile, text: &str) {
        // A hint shared between processes: a write that fails costs a
        // reinstall or an order, never a verdict.
        let _ = write_atomic(&self.path(f), text);
    }

    fn remove(&self, f: CellFile) {
        let _ = std::fs::remove_file(self.path(f));
    }

    /// The install lease's lock file (one installer per cell).
    pub fn install_lock(&self) -> io::Result<File> {
        open_lock(&self.path(CellFile::Lock))
    }

    /// The stage lock's file (see `stages::hold_across_processes`).
    pub fn stages_lock(&self) -> io::Result<File> {
        open_lock(&self.path(CellFile::StagesLock))
    }

    pub fn stamp(&self) -> Option<String> {
        self.read(CellFile::Stamp)
    }

    pub fn set_stamp(&self, stamp: &str) {
        self.write(CellFile::Stamp, stamp)
    }

    pub fn clear_stamp(&self) {
        self.remove(CellFile::Stamp)
    }

    /// When the cell was last installed (its stamp's time): room takes
    /// the oldest idle cells down first.
    pub fn installed_at(&self) -> Option<SystemTime> {
        std::fs::metadata(self.path(CellFile::Stamp))
            .and_then(|m| m.modified())
            .ok()
    }

    pub fn need(&self) -> Option<String> {
        self.read(CellFile::Need)
    }

    pub fn set_need(&self, text: &str) {
        self.write(CellFile::Need, text)
    }

    pub fn mark_failed(&self) {
        self.write(CellFile::Failed, "")
    }

    pub fn failed(&self) -> bool {
        self.path(CellFile::Failed).exists()
    }

    pub fn mark_scaled_down(&self) {
        self.write(CellFile::ScaledDown, "")
    }

    pub fn scaled_down(&self) -> bool {
        self.path(CellFile::ScaledDown).exists()
    }

    pub fn clear_scaled_down(&self) {
        self.remove(CellFile::ScaledDown)
    }

    /// What an upgrade cell's first install wrote onto each claim
    /// (StatefulSet -> marker, or why none was written).
    pub fn markers(&self) -> BTreeMap<String, Marker> {
        self.read(CellFile::Markers)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn set_markers(&self, markers: &BTreeMap<String, Marker>) {
        self.write(
            CellFile::Markers,
            &serde_json::to_string(markers).unwrap_or_default(),
        )
    }

    /// The cell is no longer installed as recorded: the next trial
    /// reinstalls it, other installers stop counting its peak.
    pub fn forget_install(&self) {
        for f in [CellFile::Stamp, CellFile::Failed, CellFile::Need] {
            self.remove(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_a_cell_sits_beside_its_lease_named_by_namespace() {
        let s = CellState::at(Path::new("/out/cells"), "medplum-dev");
        assert_eq!(
            s.path(CellFile::Markers),
            Path::new("/out/cells/medplum-dev.markers.json")
        );
        assert_eq!(
            s.path(CellFile::StagesLock),
            Path::new("/out/cells/medplum-dev.stages.lock")
        );
    }

    #[test]
    fn a_stamp_read_while_others_write_it_is_always_one_whole_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let s = CellState::at(dir.path(), "c");
        let a = "a".repeat(64 * 1024);
        let b = "b".repeat(64 * 1024);
        s.set_stamp(&a);
        std::thread::scope(|t| {
            for w in [&a, &b, &a, &b] {
                let s = s.clone();
                t.spawn(move || {
                    for _ in 0..50 {
                        s.set_stamp(w);
                    }
                });
            }
            for _ in 0..200 {
                let got = s.stamp().unwrap();
                assert!(got == a || got == b, "a torn stamp of {} bytes", got.len());
            }
        });
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn markers_json_keeps_its_ok_and_err_shape() {
        let dir = tempfile::tempdir().unwrap();
        let s = CellState::at(dir.path(), "c");
        let written: Result<String, std::io::Error> = Err(std::io::Error::other("exec refused"));
        s.set_markers(&BTreeMap::from([
            ("a".into(), Marker::from(Ok::<_, String>("m1".into()))),
            ("b".into(), Marker::from(written)),
        ]));
        assert_eq!(
            std::fs::read_to_string(s.path(CellFile::Markers)).unwrap(),
            r#"{"a":{"Ok":"m1"},"b":{"Err":"exec refused"}}"#
        );
        assert_eq!(
            s.markers().get("b"),
            Some(&Marker::NotWritten("exec refused".into()))
        );
    }

    #[test]
    fn forgetting_an_install_keeps_the_locks_and_the_markers() {
        let dir = tempfile::tempdir().unwrap();
        let s = CellState::at(dir.path(), "c");
        s.set_stamp("x");
        s.set_need("100m");
        s.mark_failed();
        s.set_markers(&BTreeMap::from([(
            "db".into(),
            Marker::Written("m1".into()),
        )]));
        let _lock = s.install_lock().unwrap();
        s.forget_install();
        assert_eq!((s.stamp(), s.need(), s.failed()), (None, None, false));
        assert_eq!(s.markers().get("db"), Some(&Marker::Written("m1".into())));
        assert!(s.path(CellFile::Lock).exists());
    }
}
