//! Helpers shared by the end-to-end tests of the real `nabla` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_nabla");

/// Runs the binary in `cwd`, without `NABLA_DATA` from the environment.
pub fn nabla(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("NABLA_DATA")
        .output()
        .expect("the nabla binary runs")
}

/// A fresh, empty folder in the temp dir, removed (with what the test left there) when the
/// returned value drops: keep it alive as long as the folder is used.
pub fn tmp() -> TempDir {
    tempfile::Builder::new().prefix("nabla-").tempdir().unwrap()
}

/// [`tmp`] holding the file `name` with `contents`.
pub fn tmp_with(name: &str, contents: &str) -> TempDir {
    let dir = tmp();
    std::fs::write(dir.path().join(name), contents).unwrap();
    dir
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (stdout(o), stderr(o))
}

/// Exit 0 (stderr in the message otherwise).
#[track_caller]
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

/// Exit 0; gives stdout (both outputs in the message otherwise).
#[track_caller]
pub fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    out
}

/// Exit 2 with one line on stderr containing `needle`.
pub fn assert_bad(o: &Output, needle: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(2), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line:\n{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}
