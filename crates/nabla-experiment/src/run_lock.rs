//! One writer per run folder: an OS lock held on the folder for as long as a run writes it.
//!
//! The lock is advisory and the system's own (`flock` on the folder on Unix, a lock on the
//! file `.nabla.lock` inside it elsewhere), so it is released when the process ends however
//! it ends: a killed run never leaves its folder stuck. A second `nabla train` into the same
//! folder, fresh or `--resume`, is refused while the first runs, before it writes anything.

use nabla_core::Error;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The held lock of a run folder; dropping it releases the lock and, when the folder was
/// made for this run and nothing was written into it, removes the folder again.
#[derive(Debug)]
pub struct RunLock {
    dir: PathBuf,
    _file: File,
    created: bool,
}

impl RunLock {
    /// Locks `dir`, creating it (and its parents) when it does not exist.
    ///
    /// Fails with [`Error::Config`] when another process holds the folder, and with
    /// [`Error::Io`] when it cannot be created or opened.
    pub fn acquire(dir: &Path) -> Result<RunLock, Error> {
        let created = match std::fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| cannot_create(dir, e))?;
                true
            }
            Err(e) => return Err(cannot_create(dir, e)),
        };
        let lock = RunLock {
            dir: dir.to_path_buf(),
            _file: open_lock_file(dir)?,
            created,
        };
        match lock._file.try_lock() {
            Ok(()) => Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) => {
                // the other process made the folder; it is not ours to remove
                let mut lock = lock;
                lock.created = false;
                Err(Error::Config(format!(
                    "output folder {} is in use by another nabla process (a run is being \
                     trained into it); wait for it, or choose another --out",
                    dir.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io(format!(
                "output folder {}: cannot lock: {e}",
                dir.display()
            ))),
        }
    }

    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if self.created {
            // only an empty folder goes (remove_dir refuses any other)
            #[cfg(not(unix))]
            let _ = std::fs::remove_file(self.dir.join(".nabla.lock"));
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

fn cannot_create(dir: &Path, e: std::io::Error) -> Error {
    Error::Io(format!(
        "output folder {}: cannot create: {e}",
        dir.display()
    ))
}

#[cfg(unix)]
fn open_lock_file(dir: &Path) -> Result<File, Error> {
    File::open(dir).map_err(|e| Error::Io(format!("output folder {}: {e}", dir.display())))
}

#[cfg(not(unix))]
fn open_lock_file(dir: &Path) -> Result<File, Error> {
    File::create(dir.join(".nabla.lock"))
        .map_err(|e| Error::Io(format!("output folder {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let a = RunLock::acquire(&dir).unwrap();
        let e = RunLock::acquire(&dir).unwrap_err().to_string();
        assert!(e.contains("in use by another nabla process"), "{e}");
        // the refused lock did not remove the folder the first one made
        assert!(dir.is_dir());
        drop(a);
        // nothing was written: the folder made for the run is gone with its lock
        assert!(!dir.exists());
        let b = RunLock::acquire(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), "x").unwrap();
        drop(b);
        assert!(dir.join("config.toml").exists());
    }
}
