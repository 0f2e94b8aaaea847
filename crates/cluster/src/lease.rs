use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A cross-process hold on a named cluster. Creating takes the lock
/// exclusively (one creator, the others wait and then reuse); using holds it
/// shared, so `cluster down` (exclusive) waits until no test process is
/// still using the cluster. Released on drop, also when a process dies,
/// since the kernel drops flock-style locks with the file descriptor.
#[derive(Debug)]
pub struct Lease {
    file: File,
    path: PathBuf,
}

impl Lease {
    fn open(dir: &Path, name: &str) -> Result<(File, PathBuf)> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Lease {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(format!("{name}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| Error::Lease {
                path: path.clone(),
                source,
            })?;
        Ok((file, path))
    }

    /// Exclusive: for creating or deleting.
    pub fn exclusive(dir: &Path, name: &str) -> Result<Lease> {
        let (file, path) = Lease::open(dir, name)?;
        file.lock().map_err(|source| Error::Lease {
            path: path.clone(),
            source,
        })?;
        Ok(Lease { file, path })
    }

    /// Shared: for using a cluster that exists.
    pub fn shared(dir: &Path, name: &str) -> Result<Lease> {
        let (file, path) = Lease::open(dir, name)?;
        file.lock_shared().map_err(|source| Error::Lease {
            path: path.clone(),
            source,
        })?;
        Ok(Lease { file, path })
    }

    /// Trades an exclusive hold for a shared one, letting waiting users in.
    pub fn downgrade(self) -> Result<Lease> {
        let Lease { file, path } = self;
        // flock converts atomically; a gap would let a deleter slip in.
        file.lock_shared().map_err(|source| Error::Lease {
            path: path.clone(),
            source,
        })?;
        Ok(Lease { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_users_share_and_a_deleter_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = Lease::shared(dir.path(), "c").unwrap();
        let b = Lease::shared(dir.path(), "c").unwrap();
        let (probe, _) = Lease::open(dir.path(), "c").unwrap();
        assert!(
            probe.try_lock().is_err(),
            "an exclusive lock must wait while users hold it"
        );
        // The deleter blocks rather than try-locks: another test in this
        // process may be forking a child that briefly shares the users'
        // descriptors until it execs, and the lock is rightly held until then.
        let (tx, rx) = std::sync::mpsc::channel();
        let deleter = std::thread::spawn(move || {
            tx.send(probe.lock().is_ok()).unwrap();
        });
        drop((a, b));
        let got = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the deleter must get the lock once the users are gone");
        assert!(got);
        deleter.join().unwrap();
    }

    #[test]
    fn a_creator_lets_users_in_after_downgrading() {
        let dir = tempfile::tempdir().unwrap();
        let creator = Lease::exclusive(dir.path(), "c").unwrap();
        let (probe, _) = Lease::open(dir.path(), "c").unwrap();
        assert!(probe.try_lock_shared().is_err());
        let _shared = creator.downgrade().unwrap();
        assert!(probe.try_lock_shared().is_ok());
    }
}
