//! Data-parallel training under `mpirun` (feature `mpi`): the real binary on 2 and 3 ranks
//! against one process, exact resume, and every kind of bad input and fault (each rank stops,
//! exit 2 for bad input, one message, nothing written that should not be).
#![cfg(feature = "mpi")]

use nabla::train::checkpoint::list_checkpoints;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_ok, nabla, ok, text, tmp, tmp_with, BIN};
use nabla_testkit::max_diff;

/// `mpirun` for tests: as root, more ranks than cores, a time limit, and no single-copy shared memory
/// (containers often forbid the ptrace it needs).
fn mpirun() -> Command {
    let mut c = Command::new("mpirun");
    // (--timeout: a hang fails the test instead of stalling it)
    c.args(["--allow-run-as-root", "--oversubscribe", "--timeout", "300"])
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .env_remove("NABLA_DATA");
    c
}

/// The tests share 2 cores: one mpirun at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// `mpirun -n k nabla ARGS` in `cwd`.
fn ranks(k: usize, args: &[&str], cwd: &Path) -> Output {
    mpirun()
        .args(["-n", &k.to_string(), BIN])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("mpirun runs")
}

/// `mpirun A : B` in `cwd`: two app contexts (`-n K nabla ARGS` each).
fn mpmd(a: &[&str], b: &[&str], cwd: &Path) -> Output {
    mpirun()
        .args(a)
        .arg(":")
        .args(b)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Exit 2 and exactly one `nabla:` line on stderr, containing `needle` (mpirun adds its own
/// banner about the exit code).
fn assert_bad(o: &Output, needle: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(2), "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("nabla:")).collect();
    assert_eq!(lines.len(), 1, "not one message:\n{err}");
    assert!(lines[0].contains(needle), "expected '{needle}' in: {err}");
}

/// The newest checkpoint's weights of a run, by tensor name.
fn weights(run: &Path) -> Vec<(String, Vec<f64>)> {
    let ck = list_checkpoints(run).last().cloned().expect("a checkpoint");
    nabla::core::io::load_safetensors(&ck.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.to_vec_f64()))
        .collect()
}

fn newest_bytes(run: &Path) -> Vec<u8> {
    let ck = list_checkpoints(run).last().cloned().unwrap();
    std::fs::read(ck.join("model.safetensors")).unwrap()
}

/// A small config on the bundled digits (1294 training samples): with batch 34 the 3-rank
/// split is 12/11/11, and each epoch's last batch holds 2 samples, so rank 2's part of it is
/// empty.
const SMALL: &str = include_str!("fixtures/digits-mlp-ranks.toml");

#[test]
fn two_and_three_ranks_train_the_single_process_model() {
    let _one = serial();
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    let one = ok(&nabla(&["train", "c.toml", "--out", "one", "--plain"], d));
    let two = ok(&ranks(
        2,
        &["train", "c.toml", "--out", "two", "--plain"],
        d,
    ));
    ok(&ranks(
        2,
        &["train", "c.toml", "--out", "again", "--plain"],
        d,
    ));
    let three = ok(&ranks(3, &["train", "c.toml", "--plain"], d));
    let w1 = weights(&d.join("one"));
    let (m2, m3) = (
        max_diff(&w1, &weights(&d.join("two"))),
        max_diff(&w1, &weights(&list_runs(d)[0])),
    );
    eprintln!("max |w(1 process) - w(2 ranks)| = {m2:.3e}, 3 ranks: {m3:.3e}");
    assert!(m2 <= 1e-4 && m3 <= 1e-4, "{m2} {m3}");
    // float summation order is the only difference; repeated runs are bitwise equal
    assert_eq!(newest_bytes(&d.join("two")), newest_bytes(&d.join("again")));
    // rank 0 alone prints; the metrics agree with one process to the printed digits
    for out in [&two, &three] {
        assert_eq!(out.matches("run saved in").count(), 1, "{out}");
        assert_eq!(out.matches("epoch 2/2").count(), 1, "{out}");
        assert_eq!(out.lines().last(), one.lines().last(), "{out}");
    }
    // ... and alone writes: one run folder under runs/, with the health records and summary
    let runs = list_runs(d);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs[0].join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["ranks"], 3);
    assert!(summary["allreduce_ms_per_step"].as_f64().unwrap() > 0.0);
    let health = std::fs::read_to_string(runs[0].join("health.jsonl")).unwrap();
    let one_health = std::fs::read_to_string(d.join("one/health.jsonl")).unwrap();
    assert_eq!(health.lines().count(), one_health.lines().count());
}

fn list_runs(d: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(d.join("runs")) {
        Ok(r) => r.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The pid of rank `r` among mpirun's children (from the rank Open MPI puts in each one's
/// environment).
fn rank_pid(mpirun_pid: u32, r: usize) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={r}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // the parent pid is the 2nd field after the parenthesized command name
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(mpirun_pid) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

/// Whether process `pid` still runs (not gone, not a zombie waiting to be reaped).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Starts a long `mpirun -n k` run into `out` and returns it once checkpoint `step` exists.
fn start_and_wait(k: usize, d: &Path, out: &str, step: u64) -> Child {
    let mut child = mpirun()
        .args(["-n", &k.to_string(), BIN])
        .args([
            "train", "c.toml", "--out", out, "--plain", "--epochs", "400",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ck = d.join(format!("{out}/checkpoints/ckpt-{step:010}"));
    let t0 = Instant::now();
    while !ck.exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run ended early");
    child
}

/// Kills rank `r` of the run with SIGKILL; returns mpirun's exit status and the seconds
/// until it and every rank were gone (failing after 30 s: a hang).
fn kill_rank(child: &mut Child, r: usize) -> (std::process::ExitStatus, f64) {
    let pid = rank_pid(child.id(), r).expect("rank's process");
    let others: Vec<u32> = (0..3)
        .filter(|&q| q != r)
        .filter_map(|q| rank_pid(child.id(), q))
        .collect();
    let t0 = Instant::now();
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut status = None;
    loop {
        if status.is_none() {
            status = child.try_wait().unwrap();
        }
        if let Some(st) = status {
            if others.iter().all(|&p| !running(p)) {
                return (st, t0.elapsed().as_secs_f64());
            }
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("mpirun or the other ranks still run 30 s after rank {r} was killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn killed_rank_stops_the_others_and_the_run_resumes_bitwise() {
    let _one = serial();
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    ok(&ranks(
        2,
        &["train", "c.toml", "--out", "straight", "--plain"],
        d,
    ));
    // 3 ranks, rank 1 killed mid-epoch (an epoch has 39 steps, checkpoints every 7)
    let mut child = start_and_wait(3, d, "k3", 14);
    let (status, secs) = kill_rank(&mut child, 1);
    eprintln!("3 ranks: mpirun and the other ranks gone {secs:.3} s after rank 1 was killed");
    assert!(!status.success());
    // the run folder keeps its last complete checkpoint: eval loads it
    let e = nabla(&["eval", "k3"], d);
    assert_ok(&e);
    assert!(text(&e).1.contains("loaded"), "{}", text(&e).1);
    // 2 ranks killed mid-epoch, resumed on 2 ranks: bitwise the uninterrupted 2-rank run
    let mut child = start_and_wait(2, d, "k2", 14);
    let (status, _) = kill_rank(&mut child, 1);
    assert!(!status.success());
    let left = list_checkpoints(&d.join("k2"));
    let late = left.iter().any(|c| c.ends_with("ckpt-0000000078"));
    assert!(!late, "killed too late: {left:?}");
    let out = ok(&ranks(
        2,
        &["train", "--resume", "k2", "--epochs", "2", "--plain"],
        d,
    ));
    assert!(out.contains("resuming"), "{out}");
    assert_eq!(
        newest_bytes(&d.join("straight")),
        newest_bytes(&d.join("k2"))
    );
    // the 3-rank run resumed on 2 ranks: the same training, summed in another order
    let out = ok(&ranks(
        2,
        &["train", "--resume", "k3", "--epochs", "2", "--plain"],
        d,
    ));
    assert!(
        out.contains("trained on 3 rank(s) and continues on 2"),
        "{out}"
    );
    let m = max_diff(&weights(&d.join("straight")), &weights(&d.join("k3")));
    assert!(m <= 1e-4, "{m}");
}

#[test]
fn bad_input_stops_every_rank_with_exit_2() {
    let _one = serial();
    let dir = tmp_with("c.toml", SMALL);
    let d = dir.path();
    // ranks started with different seeds (or configs)
    let a = ["-n", "1", BIN, "train", "c.toml", "--out", "x"];
    let o = mpmd(
        &a,
        &[
            "-n", "1", BIN, "train", "c.toml", "--out", "x", "--seed", "1",
        ],
        d,
    );
    assert_bad(
        &o,
        "rank 1: this rank's config differs from rank 0's: train.seed = 1 (rank 0: 0)",
    );
    std::fs::write(
        d.join("other.toml"),
        SMALL.replace("lr = 0.01", "lr = 0.02"),
    )
    .unwrap();
    let a = ["-n", "2", BIN, "train", "c.toml", "--out", "x"];
    let o = mpmd(
        &a,
        &["-n", "1", BIN, "train", "other.toml", "--out", "x"],
        d,
    );
    assert_bad(&o, "rank 2: this rank's config differs");
    assert_bad(&o, "train.optimizer.lr = 0.02 (rank 0: 0.01)");
    assert!(!d.join("x").exists(), "a run folder was made");
    // a batch smaller than the number of ranks
    std::fs::write(
        d.join("b2.toml"),
        SMALL.replace("batch_size = 34", "batch_size = 2"),
    )
    .unwrap();
    let o = ranks(3, &["train", "b2.toml", "--out", "y"], d);
    assert_bad(&o, "train.batch_size = 2 is smaller than the 3 ranks");
    assert!(!d.join("y").exists());
    // one rank resuming, the other starting afresh
    ok(&nabla(
        &["train", "c.toml", "--out", "run", "--epochs", "1"],
        d,
    ));
    let a = ["-n", "1", BIN, "train", "--resume", "run"];
    let o = mpmd(&a, &["-n", "1", BIN, "train", "c.toml", "--out", "z"], d);
    assert_bad(&o, "rank 1: this rank's config differs");
    assert_bad(&o, "launch.resume = false (rank 0: true)");
    // --resume from a folder only some ranks can read (rank 1 runs where it is absent)
    let before = list_checkpoints(&d.join("run"));
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    // `train --resume run` on 2 ranks: rank 0 in `d`, rank 1 in `d/elsewhere`
    let resume_in_two_folders = || {
        let (here, elsewhere) = (d.to_str().unwrap(), d.join("elsewhere"));
        // (--epochs past the run's one epoch: a finished run is refused before its state is
        // compared between the ranks)
        let resume = [BIN, "train", "--resume", "run", "--epochs", "2"];
        mpirun()
            .args(["-n", "1", "--wdir", here])
            .args(resume)
            .arg(":")
            .args(["-n", "1", "--wdir", elsewhere.to_str().unwrap()])
            .args(resume)
            .output()
            .unwrap()
    };
    let o = resume_in_two_folders();
    assert_bad(&o, "rank 1: --resume run: no such folder");
    // ... or whose checkpoint only some ranks can read (another copy, with no checkpoint)
    let copy = d.join("elsewhere/run");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(d.join("run/config.toml"), copy.join("config.toml")).unwrap();
    let o = resume_in_two_folders();
    assert_bad(
        &o,
        "rank 1: this rank's training state (step 0) is not rank 0's (step 39)",
    );
    // the run was not touched
    assert_eq!(list_checkpoints(&d.join("run")), before);
}

#[test]
fn bench_runs_data_parallel_and_refuses_single_process_workloads() {
    let _one = serial();
    let dir = tmp();
    let d = dir.path();
    let o = ranks(2, &["bench", "W2", "--batches", "16", "--threads", "1"], d);
    let out = ok(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "rank 0 alone prints: {out}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["workload"], "W2");
    assert_eq!(v["ranks"], 2);
    assert!(v["allreduce_ms"].as_f64().unwrap() > 0.0);
    assert!(v["throughput"].as_f64().unwrap() > 0.0);
    assert_bad(&ranks(2, &["bench", "W1"], d), "W1 runs in one process");
}
