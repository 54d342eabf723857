//! Helpers shared by the end-to-end tests of the real `nabla` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::{Command, Output, Stdio};
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

/// The newest checkpoint's `model.safetensors` bytes of a run.
pub fn newest_weights(run: &Path) -> Vec<u8> {
    let cks = nabla::train::checkpoint::list_checkpoints(run);
    std::fs::read(cks.last().unwrap().join("model.safetensors")).unwrap()
}

/// Runs `nabla train TRAIN_ARGS --out k`, kills it with SIGKILL once checkpoint `mid` (a
/// step inside an epoch) exists and before step `late`, resumes it with `nabla train
/// --resume k RESUME_ARGS` and checks the final weights equal those of the uninterrupted
/// run in `straight`.
pub fn kill_and_resume_equals(
    d: &Path,
    train_args: &[&str],
    resume_args: &[&str],
    straight: &str,
    mid: u64,
    late: u64,
) {
    let mut child = Command::new(BIN)
        .arg("train")
        .args(train_args)
        .args(["--out", "k", "--plain"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let mid_dir = d.join(format!("k/checkpoints/ckpt-{mid:010}"));
    while !mid_dir.exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<String> = std::fs::read_dir(d.join("k/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|n| n.starts_with("ckpt-00000000")
            && n.trim_start_matches("ckpt-")
                .parse::<u64>()
                .is_ok_and(|s| s >= late)),
        "killed too late: {left:?}"
    );
    let mut args = vec!["train", "--resume", "k", "--plain"];
    args.extend_from_slice(resume_args);
    let r = nabla(&args, d);
    assert_ok(&r);
    assert!(
        newest_weights(&d.join(straight)) == newest_weights(&d.join("k")),
        "killed and resumed run differs"
    );
}

/// A made-up text of 12 distinct characters (`"abcdefgh ,.\n"`) for language models.
pub fn lm_text() -> String {
    // 12 distinct characters: "abcdefgh ,.\n"
    let words = ["abc", "de", "fgh", "ha", "bed", "cafe", "gag"];
    let mut s = String::new();
    for i in 0..400 {
        s.push_str(words[i * 3 % words.len()]);
        s.push(if i % 9 == 8 {
            '\n'
        } else if i % 5 == 4 {
            ','
        } else {
            ' '
        });
        if i % 13 == 12 {
            s.push('.');
        }
    }
    s
}
