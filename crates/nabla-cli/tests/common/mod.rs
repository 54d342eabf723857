//! Helpers shared by the end-to-end tests of the real `nabla` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in `cwd`, without `NABLA_DATA` from the environment.
pub fn nabla(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(args)
        .current_dir(cwd)
        .env_remove("NABLA_DATA")
        .output()
        .expect("the nabla binary runs")
}

/// A fresh, empty folder `nabla-{suite}-{pid}-{name}` in the temp dir.
pub fn tmp_in(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nabla-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Exit 2 with one line on stderr containing `needle`.
pub fn assert_bad(o: &Output, needle: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(2), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line:\n{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}
