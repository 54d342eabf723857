//! The bad-input catalogue of issue 24: a table of bad inputs across every command and every
//! config section, run against the real `nabla` binary. Each case names the command, the files
//! it starts from (configs, CSV and text files, a copy of a prepared run with damage done to
//! it), the exit code, the words the one-line message must contain, and what must be left as
//! it was. A refused command (exit 2) must leave the whole case folder byte for byte as it was
//! (no run folder made, no file of an existing run rewritten), print exactly one line on
//! stderr, never panic, and finish within a minute (else it counts as a hang).
//!
//! The six kinds of failure of the issue, as tagged on each case:
//! 1. checked too late or not at all;
//! 2. two processes, one run folder;
//! 3. resume changes what it refuses;
//! 4. numbers that mean something else;
//! 5. commands that refuse valid input or lose good data;
//! 6. messages that do not say what to fix.
//!
//! Every failing case of a group is listed at once (one assertion per group at the end).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{lm_text, tmp, BIN};
use tempfile::TempDir;

/// A command that runs longer than this is killed and counted as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The address space a case's process may take (KiB): a huge allocation fails instead of
/// taking the machine's memory (an abort on it is a failure of the case).
const ULIMIT_KIB: u64 = 8_000_000;

// ---------------------------------------------------------------------------------------
// The table's row and its builder
// ---------------------------------------------------------------------------------------

/// A prepared run copied into the case folder as `run` before the case runs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Base {
    /// The digits MLP of `fixtures/digits-mlp-sgd.toml`, 2 epochs (checkpoints
    /// `ckpt-0000000077`, mid-epoch 2, and `ckpt-0000000082`, the end; `best`).
    Mlp,
    /// The char-LSTM of `fixtures/char-lstm.toml` on `lm_text()`, 1 epoch.
    Text,
    /// A 3-feature CSV without a header (`header = false`), 2 classes, 1 epoch.
    Csv,
}

/// Damage or set-up done in the case folder after the base run is copied.
enum Edit {
    /// Writes a file (parents made).
    Write(&'static str, Vec<u8>),
    /// Replaces text in a file (the case fails if `from` is not there: the fixture changed).
    Replace(&'static str, String, String),
    /// Cuts a file to half its length.
    Cut(&'static str),
    /// Removes a file or a folder.
    Remove(&'static str),
    /// A symbolic link `link` -> `target`.
    Symlink(&'static str, &'static str),
    /// An empty folder.
    Mkdir(&'static str),
}

struct Case {
    kind: u8,
    name: String,
    args: Vec<String>,
    base: Option<Base>,
    edits: Vec<Edit>,
    /// Exit codes that are right (most cases: only 2).
    codes: Vec<i32>,
    /// Words stderr must contain when the exit is 2 (`a|b`: either).
    words: Vec<&'static str>,
    /// Words stderr must contain when the exit is 0 (warnings).
    warn: Vec<&'static str>,
    /// Words stdout must contain when the exit is 0.
    out: Vec<&'static str>,
    /// Words neither stdout nor stderr may contain.
    never: Vec<&'static str>,
    /// Files or folders (recursively) that must be byte-identical afterwards (for an expected
    /// exit 2 alone, the whole case folder is).
    unchanged: Vec<&'static str>,
    /// Paths that must not exist afterwards.
    absent: Vec<&'static str>,
    /// (file, text): the file, where it exists afterwards, must contain the text.
    file_has: Vec<(&'static str, &'static str)>,
    /// (file, text): the file, where it exists afterwards, must not contain the text.
    file_lacks: Vec<(&'static str, &'static str)>,
}

/// A case of issue kind `kind`: `nabla ARGS` (split on whitespace), expected exit 2.
fn c(kind: u8, name: &str, args: &str) -> Case {
    Case {
        kind,
        name: name.to_string(),
        args: args.split_whitespace().map(String::from).collect(),
        base: None,
        edits: vec![],
        codes: vec![2],
        words: vec![],
        warn: vec![],
        out: vec![],
        never: vec![],
        unchanged: vec![],
        absent: vec![],
        file_has: vec![],
        file_lacks: vec![],
    }
}

impl Case {
    fn args_vec(mut self, a: &[&str]) -> Self {
        self.args = a.iter().map(|s| s.to_string()).collect();
        self
    }
    fn file(mut self, path: &'static str, text: impl Into<String>) -> Self {
        self.edits.push(Edit::Write(path, text.into().into_bytes()));
        self
    }
    fn bytes(mut self, path: &'static str, b: &[u8]) -> Self {
        self.edits.push(Edit::Write(path, b.to_vec()));
        self
    }
    fn text(self) -> Self {
        self.file("t.txt", lm_text())
    }
    fn run(mut self, b: Base) -> Self {
        self.base = Some(b);
        self
    }
    fn edit(mut self, e: Edit) -> Self {
        self.edits.push(e);
        self
    }
    fn replace(self, path: &'static str, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.edit(Edit::Replace(path, from.into(), to.into()))
    }
    fn loop_at(self, link: &'static str) -> Self {
        self.edit(Edit::Symlink(link, link))
    }
    fn codes(mut self, c: &[i32]) -> Self {
        self.codes = c.to_vec();
        if c.contains(&0) {
            // a train case that may succeed writes its run
            self.absent.retain(|p| *p != "never");
        }
        self
    }
    fn ok(self) -> Self {
        self.codes(&[0])
    }
    fn words(mut self, w: &[&'static str]) -> Self {
        self.words.extend_from_slice(w);
        self
    }
    fn warn(mut self, w: &[&'static str]) -> Self {
        self.warn.extend_from_slice(w);
        self
    }
    fn out(mut self, w: &[&'static str]) -> Self {
        self.out.extend_from_slice(w);
        self
    }
    fn never(mut self, w: &[&'static str]) -> Self {
        self.never.extend_from_slice(w);
        self
    }
    fn unchanged(mut self, p: &[&'static str]) -> Self {
        self.unchanged.extend_from_slice(p);
        self
    }
    fn absent(mut self, p: &[&'static str]) -> Self {
        self.absent.extend_from_slice(p);
        self
    }
    fn file_has(mut self, p: &'static str, t: &'static str) -> Self {
        self.file_has.push((p, t));
        self
    }
    fn file_lacks(mut self, p: &'static str, t: &'static str) -> Self {
        self.file_lacks.push((p, t));
        self
    }
}

// ---------------------------------------------------------------------------------------
// Config text
// ---------------------------------------------------------------------------------------

/// A whole config: `[data]`, `[model]`, `[train]` (1 epoch, batch 32 unless `train` sets them).
fn cfg(data: &str, model: &str, train: &str) -> String {
    let mut t = String::from("[train]\n");
    if !train.contains("epochs") {
        t.push_str("epochs = 1\n");
    }
    if !train.contains("batch_size") {
        t.push_str("batch_size = 32\n");
    }
    t.push_str(train);
    format!("[data]\n{data}\n[model]\n{model}\n{t}\n")
}

const DIGITS: &str = "dataset = \"digits\"";
/// A one-layer model on the digits' 64 features.
const MLP: &str = "input_shape = [64]\nlayers = [{ type = \"linear\", out = 10 }]";

/// A model on the digits as 1×8×8 images: `layers`, then flatten and a linear layer.
fn img(layers: &str) -> String {
    format!(
        "input_shape = [1, 8, 8]\nlayers = [{layers}, {{ type = \"flatten\" }}, {{ type = \"linear\", out = 10 }}]"
    )
}

/// A model on the digits' 64 features: `layers`, then a linear layer.
fn vec64(layers: &str) -> String {
    format!("input_shape = [64]\nlayers = [{layers}, {{ type = \"linear\", out = 10 }}]")
}

/// The digits with a model and train extras.
fn digits(model: &str, train: &str) -> String {
    cfg(DIGITS, model, train)
}

/// The digits MLP with `[train]` extras.
fn train_cfg(train: &str) -> String {
    digits(MLP, train)
}

/// The digits MLP with `[train]` extras and a `train.optimizer` table.
fn opt_cfg(opt: &str) -> String {
    train_cfg(&format!("optimizer = {{ {opt} }}\n"))
}

/// The digits MLP (SGD) with a `train.schedule` table.
fn sched_cfg(s: &str) -> String {
    train_cfg(&format!(
        "optimizer = {{ name = \"sgd\", lr = 0.05 }}\nschedule = {{ {s} }}\n"
    ))
}

/// A char-level text model on `t.txt`: an embedding, `mid`, a linear layer over 12 tokens.
fn text_cfg(mid: &str, data_extra: &str) -> String {
    format!(
        "[data]\ndataset = \"text\"\npath = \"t.txt\"\nseq_len = 8\nvalidation_split = 0.2\n{data_extra}\n[model]\nlayers = [\n  {{ type = \"embedding\", dim = 8 }},\n  {mid},\n  {{ type = \"linear\", out = 12 }},\n]\n[train]\nepochs = 1\nbatch_size = 4\noptimizer = {{ name = \"adam\", lr = 0.01 }}\n"
    )
}

/// A CSV dataset config on `data.csv` with `data` extras, an MLP with `out` outputs.
fn csv_cfg(data: &str, out: usize, train: &str) -> String {
    cfg(
        &format!("dataset = \"csv\"\npath = \"data.csv\"\n{data}"),
        &format!("layers = [{{ type = \"linear\", out = 8 }}, {{ type = \"tanh\" }}, {{ type = \"linear\", out = {out} }}]"),
        &format!("batch_size = 8\n{train}"),
    )
}

/// 40 rows of 4 features and an integer label (2 classes), with the header `a,b,c,d,label`
/// when `header`.
fn csv5(header: bool) -> String {
    let mut s = String::new();
    if header {
        s.push_str("a,b,c,d,label\n");
    }
    for i in 0..40 {
        let k = i % 2;
        let off = if k == 0 { -2.0 } else { 2.0 };
        let j = (i * 7 % 11) as f64 * 0.1;
        s.push_str(&format!(
            "{},{},{},{},{k}\n",
            1.0 + off + j,
            3.0 - off + j,
            0.5 * off - j,
            j
        ));
    }
    s
}

/// `n` CSV rows of 64 pixel values; the first row whole numbers (so it looks like neither a
/// header nor like the others), the rest fractions.
fn pixel_rows(n: usize) -> String {
    let mut s = String::new();
    for r in 0..n {
        let row: Vec<String> = (0..64)
            .map(|i| {
                if r == 0 {
                    format!("{}", (i * 3) % 17)
                } else {
                    format!("{:.2}", ((i * 7 + r * 5) % 16) as f64 * 0.97)
                }
            })
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// A train case: `nabla train c.toml --out never` on `config`.
fn tc(kind: u8, name: &str, config: String, words: &[&'static str]) -> Case {
    c(kind, name, "train c.toml --out never")
        .file("c.toml", config)
        .words(words)
        .absent(&["never"])
}

// ---------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------

/// The prepared runs of one group, in a temp folder kept while the group runs.
struct Bases {
    _dir: TempDir,
    runs: BTreeMap<Base, PathBuf>,
    setup_error: Option<String>,
}

const SMALL: &str = include_str!("fixtures/digits-mlp-sgd.toml");
const LM: &str = include_str!("fixtures/char-lstm.toml");

fn csv_base_data() -> String {
    let mut s = String::new();
    for i in 0..60 {
        let k = i % 2;
        let off = if k == 0 { -3.0 } else { 3.0 };
        let j = (i * 5 % 13) as f64 * 0.05;
        s.push_str(&format!(
            "{},{},{},{k}\n",
            10.0 + off + j,
            100.0 - off - j,
            off * 2.0 + j
        ));
    }
    s
}

impl Bases {
    fn new(which: &[Base]) -> Bases {
        let dir = tmp();
        let d = dir.path();
        let mut runs = BTreeMap::new();
        let mut setup_error = None;
        for &b in which {
            let (cfg, extra, args): (String, Option<(&str, String)>, &[&str]) = match b {
                Base::Mlp => (SMALL.to_string(), None, &["--epochs", "2"]),
                Base::Text => (LM.to_string(), Some(("t.txt", lm_text())), &["--epochs", "1"]),
                Base::Csv => (
                    "[data]\ndataset = \"csv\"\npath = \"base.csv\"\nheader = false\n[model]\nlayers = [{ type = \"linear\", out = 8 }, { type = \"tanh\" }, { type = \"linear\", out = 2 }]\n[train]\nepochs = 1\nbatch_size = 8\noptimizer = { name = \"adam\", lr = 0.05 }\n".to_string(),
                    Some(("base.csv", csv_base_data())),
                    &["--epochs", "1"],
                ),
            };
            let name = format!("{b:?}").to_lowercase();
            std::fs::write(d.join(format!("{name}.toml")), cfg).unwrap();
            if let Some((f, t)) = extra {
                std::fs::write(d.join(f), t).unwrap();
            }
            let cfgname = format!("{name}.toml");
            let mut a = vec!["train", cfgname.as_str(), "--out", name.as_str(), "--plain"];
            a.extend_from_slice(args);
            let o = common::nabla(&a, d);
            if !o.status.success() {
                setup_error = Some(format!(
                    "the base run {b:?} did not train: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            runs.insert(b, d.join(&name));
        }
        Bases {
            _dir: dir,
            runs,
            setup_error,
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

/// Every entry under `root` (symlinks not followed): relative path -> contents (a file's
/// bytes, "dir", or the link's target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    fn walk(root: &Path, p: &Path, m: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(md) = std::fs::symlink_metadata(p) else {
            return;
        };
        let rel = p.strip_prefix(root).unwrap_or(p).to_path_buf();
        if md.file_type().is_symlink() {
            let t = std::fs::read_link(p).unwrap_or_default();
            m.insert(rel, format!("link -> {}", t.display()).into_bytes());
        } else if md.is_dir() {
            m.insert(rel, b"dir".to_vec());
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(root, &e.path(), m);
                }
            }
        } else {
            m.insert(rel, std::fs::read(p).unwrap_or_default());
        }
    }
    walk(root, root, &mut m);
    m
}

fn diff(before: &BTreeMap<PathBuf, Vec<u8>>, after: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<String> {
    let mut d = vec![];
    for (p, b) in before {
        match after.get(p) {
            None => d.push(format!("removed {}", p.display())),
            Some(a) if a != b => d.push(format!("changed {}", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            d.push(format!("created {}", p.display()));
        }
    }
    d
}

struct Outcome {
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `cwd` with `args` under an address-space limit and [`TIMEOUT`].
fn run_bin(args: &[String], cwd: &Path) -> Outcome {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ULIMIT_KIB} 2>/dev/null; exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("NABLA_DATA")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the nabla binary starts");
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            // keep at most 4 MiB: a command that streams forever must not fill the memory
            let mut kept = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if kept.len() < 4 << 20 {
                            kept.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let t0 = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > TIMEOUT {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: status.code().or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            status.signal().map(|s| 128 + s)
        }),
        timed_out,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn any_of(hay: &str, w: &str) -> bool {
    w.split('|').any(|alt| hay.contains(alt))
}

fn short(s: &str) -> String {
    let s = s.trim().replace('\n', " ⏎ ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Sets up, runs and checks one case; the reasons it fails (empty: it passed).
fn check(case: &Case, bases: &Bases) -> Vec<String> {
    let dir = tmp();
    let d = dir.path();
    let mut why = vec![];
    if let Some(b) = case.base {
        if let Some(e) = &bases.setup_error {
            return vec![format!("setup: {e}")];
        }
        copy_dir(&bases.runs[&b], &d.join("run"));
    }
    for e in &case.edits {
        let r: Result<(), String> = (|| match e {
            Edit::Write(p, b) => {
                let p = d.join(p);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(p, b).map_err(|e| e.to_string())
            }
            Edit::Replace(p, from, to) => {
                let t = std::fs::read_to_string(d.join(p)).map_err(|e| format!("{p}: {e}"))?;
                if !t.contains(from.as_str()) {
                    return Err(format!("{p} lacks {from:?}"));
                }
                std::fs::write(d.join(p), t.replace(from.as_str(), to)).map_err(|e| e.to_string())
            }
            Edit::Cut(p) => {
                let b = std::fs::read(d.join(p)).map_err(|e| format!("{p}: {e}"))?;
                std::fs::write(d.join(p), &b[..b.len() / 2]).map_err(|e| e.to_string())
            }
            Edit::Remove(p) => {
                let p = d.join(p);
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                }
                .map_err(|e| format!("{}: {e}", p.display()))
            }
            Edit::Symlink(link, target) => {
                std::os::unix::fs::symlink(target, d.join(link)).map_err(|e| e.to_string())
            }
            Edit::Mkdir(p) => std::fs::create_dir_all(d.join(p)).map_err(|e| e.to_string()),
        })();
        if let Err(e) = r {
            return vec![format!("setup of the case failed: {e}")];
        }
    }
    let whole = case.codes == [2];
    let before_all = whole.then(|| snapshot(d));
    let before: Vec<_> = case
        .unchanged
        .iter()
        .map(|p| (p, snapshot(&d.join(p))))
        .collect();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| a.replace("{d}", &d.display().to_string()))
        .collect();
    let o = run_bin(&args, d);
    if o.timed_out {
        why.push(format!("hang: killed after {} s", TIMEOUT.as_secs()));
    }
    let code = o.code.unwrap_or(-1);
    if !o.timed_out && !case.codes.contains(&code) {
        why.push(format!("exit {code}, expected {:?}", case.codes));
    }
    if o.stderr.contains("panicked") || o.stderr.contains("RUST_BACKTRACE") {
        why.push("panicked".into());
    }
    if code == 2 {
        let n = o.stderr.trim_end().lines().count();
        if n != 1 {
            why.push(format!("{n} lines on stderr, not one"));
        }
        for w in &case.words {
            if !any_of(&o.stderr, w) {
                why.push(format!("message lacks '{w}'"));
            }
        }
    }
    if code == 0 {
        for w in &case.warn {
            if !any_of(&o.stderr, w) {
                why.push(format!("stderr lacks '{w}'"));
            }
        }
        for w in &case.out {
            if !any_of(&o.stdout, w) {
                why.push(format!("stdout lacks '{w}'"));
            }
        }
    }
    for w in &case.never {
        if o.stdout.contains(w) || o.stderr.contains(w) {
            why.push(format!("printed '{w}'"));
        }
    }
    if let Some(b) = before_all {
        if code == 2 || !case.codes.contains(&code) {
            let dd = diff(&b, &snapshot(d));
            if !dd.is_empty() {
                why.push(format!("changed files: {}", dd.join(", ")));
            }
        }
    }
    for (p, b) in before {
        let dd = diff(&b, &snapshot(&d.join(p)));
        if !dd.is_empty() {
            why.push(format!("{p} changed: {}", dd.join(", ")));
        }
    }
    for p in &case.absent {
        if std::fs::symlink_metadata(d.join(p)).is_ok() {
            why.push(format!("{p} exists"));
        }
    }
    for (p, t) in &case.file_has {
        if let Ok(s) = std::fs::read_to_string(d.join(p)) {
            if !s.contains(t) {
                why.push(format!("{p} lacks '{t}'"));
            }
        }
    }
    for (p, t) in &case.file_lacks {
        if let Ok(s) = std::fs::read_to_string(d.join(p)) {
            if s.contains(t) {
                why.push(format!("{p} holds '{t}'"));
            }
        }
    }
    if !why.is_empty() {
        why.push(format!(
            "[exit {code}; stderr: {}]",
            if o.stderr.trim().is_empty() {
                format!("(empty; stdout: {})", short(&o.stdout))
            } else {
                short(&o.stderr)
            }
        ));
    }
    why
}

/// Runs every case of a group and fails once, listing every failing case.
fn run_group(group: &str, cases: Vec<Case>) {
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "two cases named {}", c.name);
    }
    let mut need: Vec<Base> = cases.iter().filter_map(|c| c.base).collect();
    need.sort();
    need.dedup();
    let bases = Bases::new(&need);
    let mut failed = vec![];
    for case in &cases {
        let why = check(case, &bases);
        if !why.is_empty() {
            failed.push(format!(
                "CATALOGUE-FAIL {group} kind={} {}: {}",
                case.kind,
                case.name,
                why.join("; ")
            ));
        }
    }
    eprintln!(
        "CATALOGUE {group}: {} cases, {} failed",
        cases.len(),
        failed.len()
    );
    for f in &failed {
        eprintln!("{f}");
    }
    assert!(
        failed.is_empty(),
        "{group}: {} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The groups
// ---------------------------------------------------------------------------------------

/// `[data]`: unknown keys, wrong types, fractions out of range, NaN and infinity, keys that do
/// not apply, CSV and text files that cannot be read, label columns by index, empty test
/// sets, symlink loops. Kinds 1 (checked late or not at all), 4 (an empty test set printed as
/// 0.0000), 5 (`label_column` as a documented index refused) and 6 (messages: the key, a
/// default loss the user never wrote, a symlink loop said to be missing).
#[test]
fn catalogue_config_data() {
    let t = |k, n, data: &str, w: &[&'static str]| tc(k, n, cfg(data, MLP, ""), w);
    let csv = |k, n, data: &str, w: &[&'static str]| {
        tc(k, n, csv_cfg(data, 2, ""), w).file("data.csv", csv5(true))
    };
    let cases = vec![
        t(
            6,
            "data_dataset_unknown",
            "dataset = \"imagenet\"",
            &["data.dataset", "imagenet"],
        ),
        t(6, "data_dataset_number", "dataset = 3", &["data.dataset"]),
        t(
            6,
            "data_unknown_key",
            "dataset = \"digits\"\nshuffle = true",
            &["shuffle"],
        ),
        tc(
            6,
            "data_table_is_number",
            "data = 5\n[model]\ninput_shape = [64]\nlayers = [{ type = \"linear\", out = 10 }]\n"
                .into(),
            &["data"],
        ),
        tc(
            6,
            "top_level_unknown_table",
            format!("{}[training]\nepochs = 1\n", train_cfg("")),
            &["training"],
        ),
        t(
            1,
            "data_validation_split_negative",
            "dataset = \"digits\"\nvalidation_split = -0.1",
            &["data.validation_split"],
        ),
        t(
            1,
            "data_validation_split_above_1",
            "dataset = \"digits\"\nvalidation_split = 1.5",
            &["data.validation_split"],
        ),
        t(
            1,
            "data_validation_split_nan",
            "dataset = \"digits\"\nvalidation_split = nan",
            &["data.validation_split"],
        ),
        t(
            1,
            "data_validation_split_inf",
            "dataset = \"digits\"\nvalidation_split = inf",
            &["data.validation_split"],
        ),
        t(
            6,
            "data_validation_split_string",
            "dataset = \"digits\"\nvalidation_split = \"0.1\"",
            &["data.validation_split"],
        ),
        t(
            6,
            "data_validation_split_nan_string",
            "dataset = \"digits\"\nvalidation_split = \"NaN\"",
            &["data.validation_split"],
        ),
        t(
            1,
            "data_test_split_inf",
            "dataset = \"digits\"\ntest_split = inf",
            &["data.test_split"],
        ),
        t(
            1,
            "data_test_split_negative",
            "dataset = \"digits\"\ntest_split = -0.2",
            &["data.test_split"],
        ),
        t(
            1,
            "data_splits_leave_nothing",
            "dataset = \"digits\"\nvalidation_split = 0.5\ntest_split = 0.5",
            &["data.validation_split|data.test_split"],
        ),
        t(
            1,
            "data_test_split_on_mnist",
            "dataset = \"mnist\"\npath = \"nowhere\"\ntest_split = 0.1",
            &["data.test_split"],
        ),
        t(
            1,
            "data_label_column_on_digits",
            "dataset = \"digits\"\nlabel_column = \"x\"",
            &["data.label_column"],
        ),
        t(
            1,
            "data_standardize_on_digits",
            "dataset = \"digits\"\nstandardize = true",
            &["data.standardize"],
        ),
        t(
            1,
            "data_seq_len_on_digits",
            "dataset = \"digits\"\nseq_len = 8",
            &["data.seq_len"],
        ),
        t(
            6,
            "data_task_unknown",
            "dataset = \"digits\"\ntask = \"clustering\"",
            &["data.task"],
        ),
        t(
            1,
            "data_task_language_model_on_digits",
            "dataset = \"digits\"\ntask = \"language_model\"",
            &["data.task"],
        ),
        tc(
            1,
            "data_task_classification_on_diabetes",
            cfg(
                "dataset = \"diabetes\"\ntask = \"classification\"",
                "layers = [{ type = \"linear\", out = 10 }]",
                "",
            ),
            &["data.task"],
        ),
        t(
            6,
            "data_mnist_missing_folder",
            "dataset = \"mnist\"\npath = \"nowhere\"",
            &["nowhere"],
        ),
        tc(
            6,
            "data_fashion_mnist_path_is_file",
            cfg(
                "dataset = \"fashion-mnist\"\npath = \"f.bin\"",
                "layers = [{ type = \"linear\", out = 10 }]",
                "",
            ),
            &["f.bin"],
        )
        .file("f.bin", "x"),
        t(
            6,
            "data_mnist_symlink_loop",
            "dataset = \"mnist\"\npath = \"loop\"",
            &["loop"],
        )
        .loop_at("loop")
        .words(&["symlink|symbolic link|loop|resolve"])
        .never(&["does not exist", "No such file"]),
        // csv
        csv(
            6,
            "csv_missing_file",
            "label_column = \"label\"",
            &["data.csv"],
        )
        .edit(Edit::Remove("data.csv")),
        tc(
            6,
            "csv_without_path",
            cfg(
                "dataset = \"csv\"",
                "layers = [{ type = \"linear\", out = 2 }]",
                "",
            ),
            &["data.path"],
        ),
        csv(6, "csv_path_is_folder", "", &["data.csv"])
            .edit(Edit::Remove("data.csv"))
            .edit(Edit::Mkdir("data.csv")),
        csv(6, "csv_empty_file", "", &["data.csv"]).file("data.csv", ""),
        csv(6, "csv_header_only", "", &["data.csv"]).file("data.csv", "a,b,c,d,label\n"),
        csv(6, "csv_ragged_row", "", &["data.csv", "line 3"])
            .file("data.csv", "a,b,c,d,label\n1,2,3,4,0\n1,2,3,1\n5,6,7,8,1\n"),
        csv(4, "csv_nan_feature", "", &["data.csv", "line 3"]).file(
            "data.csv",
            format!("a,b,c,d,label\n1,2,3,4,0\n1,nan,3,4,1\n{}", csv5(false)),
        ),
        csv(4, "csv_inf_feature", "", &["data.csv", "line 2"]).file(
            "data.csv",
            format!("a,b,c,d,label\n1,inf,3,4,0\n{}", csv5(false)),
        ),
        csv(4, "csv_fractional_class_label", "", &["classes"]).file(
            "data.csv",
            format!("a,b,c,d,label\n1,2,3,4,0.5\n{}", csv5(false)),
        ),
        csv(6, "csv_symlink_loop", "", &["data.csv"])
            .edit(Edit::Remove("data.csv"))
            .edit(Edit::Symlink("data.csv", "data.csv"))
            .words(&["symlink|symbolic link|loop|resolve"])
            .never(&["does not exist", "No such file"]),
        csv(
            6,
            "csv_delimiter_two_chars",
            "delimiter = \";;\"",
            &["data.delimiter"],
        ),
        csv(
            6,
            "csv_delimiter_empty",
            "delimiter = \"\"",
            &["data.delimiter"],
        ),
        csv(
            6,
            "csv_header_wrong_type",
            "header = \"yes\"",
            &["data.header"],
        ),
        csv(
            6,
            "csv_skip_rows_negative",
            "skip_rows = -1",
            &["data.skip_rows"],
        ),
        csv(
            1,
            "csv_skip_rows_huge",
            "skip_rows = 1000000000000000000",
            &["data.skip_rows|data.csv"],
        ),
        csv(
            6,
            "csv_label_column_name_unknown",
            "label_column = \"nosuch\"",
            &["data.label_column|no column named", "nosuch"],
        ),
        csv(
            6,
            "csv_label_column_index_out_of_range",
            "label_column = 7",
            &["data.label_column"],
        ),
        csv(
            6,
            "csv_label_column_negative",
            "label_column = -1",
            &["data.label_column"],
        ),
        csv(
            6,
            "csv_label_column_float",
            "label_column = 1.5",
            &["data.label_column"],
        ),
        csv(
            5,
            "csv_label_column_index_accepted",
            "label_column = 4",
            &[],
        )
        .codes(&[0])
        .out(&["test_accuracy="]),
        csv(
            5,
            "csv_label_column_index_string_accepted",
            "label_column = \"4\"",
            &[],
        )
        .codes(&[0])
        .out(&["test_accuracy="]),
        // a regression CSV without `loss`: trains with a regression loss, or names what to
        // set, not the classification loss the user never wrote
        tc(
            6,
            "csv_regression_without_loss",
            cfg(
                "dataset = \"csv\"\npath = \"data.csv\"\ntask = \"regression\"",
                "layers = [{ type = \"linear\", out = 1 }]",
                "batch_size = 8\n",
            ),
            &["train.loss"],
        )
        .file("data.csv", csv5(true))
        .codes(&[0, 2])
        .never(&["'cross_entropy'"]),
        tc(
            6,
            "diabetes_without_loss",
            cfg(
                "dataset = \"diabetes\"",
                "layers = [{ type = \"linear\", out = 1 }]",
                "",
            ),
            &["train.loss"],
        )
        .codes(&[0, 2])
        .never(&["'cross_entropy'"]),
        // empty test sets: no test metric printed or saved
        c(
            4,
            "digits_test_split_zero",
            "train c.toml --out out --plain",
        )
        .file(
            "c.toml",
            cfg("dataset = \"digits\"\ntest_split = 0.0", MLP, ""),
        )
        .codes(&[0, 2])
        .words(&["data.test_split"])
        .never(&["test_accuracy=0.0000", "test_loss=0.0000"])
        .file_lacks("out/summary.json", "test_accuracy"),
        c(
            4,
            "csv_test_split_rounds_to_zero",
            "train c.toml --out out --plain",
        )
        .file("c.toml", csv_cfg("test_split = 0.05", 2, ""))
        .file(
            "data.csv",
            csv5(true).lines().take(13).collect::<Vec<_>>().join("\n") + "\n",
        )
        .codes(&[0, 2])
        .words(&["data.test_split"])
        .never(&["test_accuracy=0.0000", "test_loss=0.0000"])
        .file_lacks("out/summary.json", "test_accuracy"),
        // text
        tc(
            6,
            "text_empty_file",
            text_cfg("{ type = \"lstm\", hidden = 16 }", ""),
            &["t.txt", "empty"],
        )
        .file("t.txt", ""),
        tc(
            6,
            "text_not_utf8",
            text_cfg("{ type = \"lstm\", hidden = 16 }", ""),
            &["t.txt", "UTF-8"],
        )
        .bytes("t.txt", b"caf\xe9 au lait, encore et encore et encore"),
        tc(
            1,
            "text_seq_len_zero",
            text_cfg("{ type = \"lstm\", hidden = 16 }", "").replace("seq_len = 8", "seq_len = 0"),
            &["data.seq_len"],
        )
        .text(),
        tc(
            1,
            "text_seq_len_huge",
            text_cfg("{ type = \"lstm\", hidden = 16 }", "")
                .replace("seq_len = 8", "seq_len = 1000000000000000000"),
            &["seq_len"],
        )
        .text(),
        tc(
            1,
            "text_seq_len_negative",
            text_cfg("{ type = \"lstm\", hidden = 16 }", "").replace("seq_len = 8", "seq_len = -8"),
            &["data.seq_len"],
        )
        .text(),
        tc(
            1,
            "text_task_regression",
            text_cfg("{ type = \"lstm\", hidden = 16 }", "task = \"regression\""),
            &["data.task"],
        )
        .text(),
        tc(
            1,
            "text_test_split",
            text_cfg("{ type = \"lstm\", hidden = 16 }", "test_split = 0.1"),
            &["data.test_split"],
        )
        .text(),
        tc(
            6,
            "text_symlink_loop",
            text_cfg("{ type = \"lstm\", hidden = 16 }", ""),
            &["t.txt"],
        )
        .loop_at("t.txt")
        .words(&["symlink|symbolic link|loop|resolve"])
        .never(&["does not exist", "No such file"]),
    ];
    run_group("config_data", cases);
}

/// `[model]` and each layer type's keys: unknown types and keys, wrong types, negative and
/// zero sizes, NaN probabilities, sizes that do not fit, and huge sizes, paddings, strides and
/// output sizes whose activations cannot fit in memory (they must be refused from the configs,
/// naming the layer or the bytes, not abort). Kinds 1 (checked too late: aborts 134 in train
/// and summary, `input_shape = [0]` accepted), 4 (a bidirectional recurrent layer in a
/// next-character model) and 6 (`kernel_size = -3` as "untagged enum").
#[test]
fn catalogue_config_model() {
    let m = |k, n, model: String, w: &[&'static str]| tc(k, n, digits(&model, ""), w);
    let im = |k, n, layer: &str, w: &[&'static str]| tc(k, n, digits(&img(layer), ""), w);
    let v = |k, n, layer: &str, w: &[&'static str]| tc(k, n, digits(&vec64(layer), ""), w);
    let l0 = "model.layers[0]";
    let l1 = "model.layers[1]";
    let mem = "model.layers[0]|bytes|memory";
    let txt = |k, n, mid: &str, w: &[&'static str]| tc(k, n, text_cfg(mid, ""), w).text();
    let sum = |k, n, layer: &str| {
        c(k, n, "summary c.toml")
            .file("c.toml", digits(&img(layer), ""))
            .codes(&[0, 2])
            .words(&["model.layers[0]|bytes"])
    };
    let cases = vec![
        m(6, "model_layers_empty", "input_shape = [64]\nlayers = []".into(), &["model.layers"]),
        m(6, "model_layers_missing", "input_shape = [64]".into(), &["model.layers"]),
        m(6, "model_unknown_key", format!("{MLP}\nname = \"x\""), &["name"]),
        m(6, "model_layers_not_a_list", "input_shape = [64]\nlayers = 3".into(), &["model.layers"]),
        m(6, "layer_type_unknown", "input_shape = [64]\nlayers = [{ type = \"conv9\" }]".into(), &["conv9"]),
        m(6, "layer_without_type", "input_shape = [64]\nlayers = [{ out = 10 }]".into(), &[l0, "type"]),
        m(6, "layer_type_number", "input_shape = [64]\nlayers = [{ type = 3 }]".into(), &[l0, "type"]),
        m(1, "input_shape_zero", "input_shape = [0]\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(1, "input_shape_zero_dim_of_three", img("{ type = \"relu\" }").replace("[1, 8, 8]", "[1, 0, 8]"), &["model.input_shape"]),
        m(1, "input_shape_empty", "input_shape = []\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(6, "input_shape_negative", "input_shape = [-64]\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(6, "input_shape_string", "input_shape = \"64\"\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(1, "input_shape_overflow", "input_shape = [4294967296, 4294967296, 4]\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(1, "input_shape_huge_not_the_data", "input_shape = [1000000000000000000]\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(1, "input_shape_not_the_data", "input_shape = [63]\nlayers = [{ type = \"linear\", out = 10 }]".into(), &["model.input_shape"]),
        m(6, "last_layer_not_the_classes", "input_shape = [64]\nlayers = [{ type = \"linear\", out = 7 }]".into(), &["10 classes"]),
        // linear
        v(1, "linear_out_zero", "{ type = \"linear\", out = 0 }", &[l0, "out"]),
        v(6, "linear_out_negative", "{ type = \"linear\", out = -5 }", &[l0, "out"]),
        v(6, "linear_out_float", "{ type = \"linear\", out = 2.5 }", &[l0, "out"]),
        v(6, "linear_out_string", "{ type = \"linear\", out = \"ten\" }", &[l0, "out"]),
        v(6, "linear_out_missing", "{ type = \"linear\" }", &[l0, "out"]),
        v(1, "linear_out_huge", "{ type = \"linear\", out = 1000000000000000000 }", &[mem]),
        v(1, "linear_hidden_too_large_for_memory", "{ type = \"linear\", out = 100000 }, { type = \"linear\", out = 100000000 }", &["model.layers[1]|bytes"]),
        v(6, "linear_in_does_not_fit", "{ type = \"linear\", in = 63, out = 32 }", &[l0, "in"]),
        v(6, "linear_init_unknown", "{ type = \"linear\", out = 32, init = \"bogus\" }", &[l0, "init"]),
        v(6, "linear_bias_string", "{ type = \"linear\", out = 32, bias = \"yes\" }", &[l0, "bias"]),
        v(6, "linear_unknown_key", "{ type = \"linear\", out = 32, units = 3 }", &[l0, "units"]),
        v(6, "relu_unknown_key", "{ type = \"relu\", inplace = true }", &[l0, "inplace"]),
        v(1, "leaky_relu_slope_nan", "{ type = \"leaky_relu\", negative_slope = nan }", &[l0, "negative_slope"]),
        v(1, "leaky_relu_slope_inf", "{ type = \"leaky_relu\", negative_slope = inf }", &[l0, "negative_slope"]),
        v(6, "leaky_relu_slope_string", "{ type = \"leaky_relu\", negative_slope = \"x\" }", &[l0, "negative_slope"]),
        v(6, "gelu_approximate_unknown", "{ type = \"gelu\", approximate = \"fast\" }", &[l0, "approximate"]),
        v(1, "dropout_p_above_1", "{ type = \"dropout\", p = 1.5 }", &[l0, "p"]),
        v(1, "dropout_p_negative", "{ type = \"dropout\", p = -0.1 }", &[l0, "p"]),
        v(1, "dropout_p_nan", "{ type = \"dropout\", p = nan }", &[l0, "p"]),
        v(6, "dropout_p_missing", "{ type = \"dropout\" }", &[l0, "p"]),
        im(1, "dropout2d_p_2", "{ type = \"dropout2d\", p = 2.0 }", &[l0, "p"]),
        v(1, "layer_norm_eps_negative", "{ type = \"layer_norm\", eps = -1e-5 }", &[l0, "eps"]),
        v(1, "layer_norm_eps_inf", "{ type = \"layer_norm\", eps = inf }", &[l0, "eps"]),
        v(1, "batch_norm1d_momentum_2", "{ type = \"batch_norm1d\", momentum = 2.0 }", &[l0, "momentum"]),
        v(1, "batch_norm1d_eps_nan", "{ type = \"batch_norm1d\", eps = nan }", &[l0, "eps"]),
        v(6, "batch_norm2d_on_vectors", "{ type = \"batch_norm2d\" }", &[l0, "input_shape"]),
        im(1, "batch_norm2d_momentum_negative", "{ type = \"batch_norm2d\", momentum = -0.1 }", &[l0, "momentum"]),
        v(6, "flatten_start_dim_out_of_range", "{ type = \"flatten\", start_dim = 5 }", &[l0, "start_dim"]),
        v(6, "flatten_end_dim_string", "{ type = \"flatten\", end_dim = \"x\" }", &[l0, "end_dim"]),
        // conv2d
        im(6, "conv2d_kernel_size_negative", "{ type = \"conv2d\", out = 4, kernel_size = -3 }", &[l0, "kernel_size"]).never(&["untagged enum"]),
        im(1, "conv2d_kernel_size_zero", "{ type = \"conv2d\", out = 4, kernel_size = 0 }", &[l0, "kernel_size"]),
        im(6, "conv2d_kernel_size_empty", "{ type = \"conv2d\", out = 4, kernel_size = [] }", &[l0, "kernel_size"]).never(&["untagged enum"]),
        im(6, "conv2d_kernel_size_one_of_two", "{ type = \"conv2d\", out = 4, kernel_size = [3] }", &[l0, "kernel_size"]).never(&["untagged enum"]),
        im(6, "conv2d_kernel_size_three", "{ type = \"conv2d\", out = 4, kernel_size = [3, 3, 3] }", &[l0, "kernel_size"]).never(&["untagged enum"]),
        im(6, "conv2d_kernel_size_string", "{ type = \"conv2d\", out = 4, kernel_size = \"3\" }", &[l0, "kernel_size"]).never(&["untagged enum"]),
        im(6, "conv2d_kernel_larger_than_input", "{ type = \"conv2d\", out = 4, kernel_size = 100 }", &[l0]),
        im(6, "conv2d_kernel_size_missing", "{ type = \"conv2d\", out = 4 }", &[l0, "kernel_size"]),
        im(1, "conv2d_out_zero", "{ type = \"conv2d\", out = 0, kernel_size = 3 }", &[l0, "out"]),
        im(1, "conv2d_stride_zero", "{ type = \"conv2d\", out = 4, kernel_size = 3, stride = 0 }", &[l0, "stride"]),
        im(6, "conv2d_stride_negative", "{ type = \"conv2d\", out = 4, kernel_size = 3, stride = -1 }", &[l0, "stride"]).never(&["untagged enum"]),
        im(1, "conv2d_dilation_zero", "{ type = \"conv2d\", out = 4, kernel_size = 3, dilation = 0 }", &[l0, "dilation"]),
        im(1, "conv2d_groups_zero", "{ type = \"conv2d\", out = 4, kernel_size = 3, groups = 0 }", &[l0, "groups"]),
        im(1, "conv2d_groups_do_not_divide", "{ type = \"conv2d\", out = 4, kernel_size = 3, groups = 3 }", &[l0, "groups"]),
        im(6, "conv2d_in_is_not_the_channels", "{ type = \"conv2d\", in = 3, out = 4, kernel_size = 3 }", &[l0, "in"]),
        im(6, "conv2d_padding_word_unknown", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = \"full\" }", &[l0, "padding"]),
        im(6, "conv2d_padding_negative", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = -1 }", &[l0, "padding"]),
        im(1, "conv2d_padding_huge", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = 1000000000000000000 }", &[mem]),
        im(1, "conv2d_padding_too_large_for_memory", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = 100000 }", &[mem]),
        im(1, "conv2d_out_channels_huge", "{ type = \"conv2d\", out = 1000000000000000000, kernel_size = 3 }", &[mem]),
        v(6, "conv2d_on_vectors", "{ type = \"conv2d\", out = 4, kernel_size = 3 }", &[l0, "input_shape"]),
        // conv1d (input [1, 64])
        m(1, "conv1d_kernel_size_zero", "input_shape = [1, 64]\nlayers = [{ type = \"conv1d\", out = 2, kernel_size = 0 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "kernel_size"]),
        m(6, "conv1d_stride_negative", "input_shape = [1, 64]\nlayers = [{ type = \"conv1d\", out = 2, kernel_size = 3, stride = -1 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "stride"]),
        m(1, "conv1d_padding_huge", "input_shape = [1, 64]\nlayers = [{ type = \"conv1d\", out = 2, kernel_size = 3, padding = 1000000000000000000 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[mem]),
        m(6, "conv1d_kernel_size_pair", "input_shape = [1, 64]\nlayers = [{ type = \"conv1d\", out = 2, kernel_size = [3, 3] }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "kernel_size"]),
        // conv_transpose2d
        im(1, "conv_transpose2d_stride_huge", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, stride = 1000000 }", &[mem]),
        im(1, "conv_transpose2d_stride_1e18", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, stride = 1000000000000000000 }", &[mem]),
        im(1, "conv_transpose2d_kernel_huge", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 1000000000000000000 }", &[mem]),
        im(1, "conv_transpose2d_padding_huge", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, padding = 1000000000000000000 }", &[l0, "padding"]),
        im(1, "conv_transpose2d_output_padding_too_large", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, output_padding = 5 }", &[l0, "output_padding"]),
        im(1, "conv_transpose2d_output_padding_huge", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, stride = 2, output_padding = 1000000000000000000 }", &[l0, "output_padding"]),
        im(1, "conv_transpose2d_stride_zero", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, stride = 0 }", &[l0, "stride"]),
        // pooling
        im(1, "max_pool2d_kernel_size_zero", "{ type = \"max_pool2d\", kernel_size = 0 }", &[l0, "kernel_size"]),
        im(1, "max_pool2d_stride_zero", "{ type = \"max_pool2d\", kernel_size = 2, stride = 0 }", &[l0, "stride"]),
        im(1, "max_pool2d_dilation_zero", "{ type = \"max_pool2d\", kernel_size = 2, dilation = 0 }", &[l0, "dilation"]),
        im(1, "max_pool2d_padding_above_half_kernel", "{ type = \"max_pool2d\", kernel_size = 2, padding = 2 }", &[l0, "padding"]),
        im(1, "max_pool2d_padding_huge", "{ type = \"max_pool2d\", kernel_size = 2, padding = 1000000000000000000 }", &[l0, "padding"]),
        im(6, "max_pool2d_ceil_mode_string", "{ type = \"max_pool2d\", kernel_size = 2, ceil_mode = \"yes\" }", &[l0, "ceil_mode"]),
        im(6, "avg_pool2d_kernel_larger_than_input", "{ type = \"avg_pool2d\", kernel_size = 20 }", &[l0]),
        im(6, "avg_pool2d_count_include_pad_string", "{ type = \"avg_pool2d\", kernel_size = 2, count_include_pad = \"no\" }", &[l0, "count_include_pad"]),
        im(1, "avg_pool2d_stride_huge", "{ type = \"avg_pool2d\", kernel_size = 2, stride = 1000000000000000000, padding = 1 }", &[l0]).codes(&[0, 2]),
        im(1, "adaptive_avg_pool2d_output_size_zero", "{ type = \"adaptive_avg_pool2d\", output_size = 0 }", &[l0, "output_size"]),
        im(1, "adaptive_avg_pool2d_output_size_huge", "{ type = \"adaptive_avg_pool2d\", output_size = 1000000000000000000 }", &[mem]),
        im(1, "adaptive_avg_pool2d_output_too_large_for_memory", "{ type = \"adaptive_avg_pool2d\", output_size = [100000, 100000] }", &[mem]),
        im(6, "adaptive_avg_pool2d_output_size_missing", "{ type = \"adaptive_avg_pool2d\" }", &[l0, "output_size"]),
        m(1, "max_pool1d_kernel_size_zero", "input_shape = [1, 64]\nlayers = [{ type = \"max_pool1d\", kernel_size = 0 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "kernel_size"]),
        m(1, "max_pool1d_padding_huge", "input_shape = [1, 64]\nlayers = [{ type = \"max_pool1d\", kernel_size = 2, padding = 1000000000000000000 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "padding"]),
        m(1, "avg_pool1d_stride_zero", "input_shape = [1, 64]\nlayers = [{ type = \"avg_pool1d\", kernel_size = 2, stride = 0 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }]".into(), &[l0, "stride"]),
        // embeddings and recurrent layers
        v(6, "embedding_on_pixels", "{ type = \"embedding\", dim = 8 }", &["classes"]),
        txt(1, "embedding_dim_zero", "{ type = \"lstm\", hidden = 16 }", &[l0, "dim"]).replace("c.toml", "dim = 8", "dim = 0"),
        txt(1, "embedding_dim_huge", "{ type = \"lstm\", hidden = 16 }", &[mem]).replace("c.toml", "dim = 8", "dim = 1000000000000000000"),
        txt(6, "embedding_num_below_vocab", "{ type = \"lstm\", hidden = 16 }", &[l0, "num"]).replace("c.toml", "dim = 8", "dim = 8, num = 3"),
        txt(1, "lstm_hidden_zero", "{ type = \"lstm\", hidden = 0 }", &[l1, "hidden"]),
        txt(1, "lstm_hidden_huge", "{ type = \"lstm\", hidden = 1000000000000000000 }", &["model.layers[1]|bytes|memory"]),
        txt(1, "lstm_num_layers_zero", "{ type = \"lstm\", hidden = 16, num_layers = 0 }", &[l1, "num_layers"]),
        txt(1, "lstm_num_layers_huge", "{ type = \"lstm\", hidden = 16, num_layers = 1000000000000 }", &["model.layers[1]|bytes|memory"]),
        txt(1, "lstm_dropout_2", "{ type = \"lstm\", hidden = 16, num_layers = 2, dropout = 2.0 }", &[l1, "dropout"]),
        txt(1, "gru_dropout_nan", "{ type = \"gru\", hidden = 16, num_layers = 2, dropout = nan }", &[l1, "dropout"]),
        txt(6, "gru_hidden_missing", "{ type = \"gru\" }", &[l1, "hidden"]),
        txt(6, "rnn_nonlinearity_unknown", "{ type = \"rnn\", hidden = 16, nonlinearity = \"sigmoid\" }", &[l1, "nonlinearity"]),
        txt(4, "lstm_bidirectional_in_next_char_model", "{ type = \"lstm\", hidden = 16, bidirectional = true }", &[l1, "bidirectional"]),
        txt(4, "gru_bidirectional_in_next_char_model", "{ type = \"gru\", hidden = 16, bidirectional = true }", &[l1, "bidirectional"]),
        txt(4, "rnn_bidirectional_in_next_char_model", "{ type = \"rnn\", hidden = 16, bidirectional = true }", &[l1, "bidirectional"]),
        txt(4, "flatten_over_time_in_next_char_model", "{ type = \"lstm\", hidden = 16 }, { type = \"flatten\" }", &["model.layers[2]"]),
        v(6, "lstm_on_vectors", "{ type = \"lstm\", hidden = 16 }", &[l0]),
        // summary on the same configs: an answer from the configs or a refusal, never an abort
        sum(1, "summary_conv2d_padding_huge", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = 1000000000000000000 }"),
        sum(1, "summary_conv2d_padding_too_large_for_memory", "{ type = \"conv2d\", out = 4, kernel_size = 3, padding = 100000 }"),
        sum(1, "summary_conv_transpose2d_stride_huge", "{ type = \"conv_transpose2d\", out = 2, kernel_size = 3, stride = 1000000 }"),
        sum(1, "summary_adaptive_avg_pool2d_huge", "{ type = \"adaptive_avg_pool2d\", output_size = 1000000000000000000 }"),
        sum(1, "summary_adaptive_avg_pool2d_too_large", "{ type = \"adaptive_avg_pool2d\", output_size = [100000, 100000] }"),
        c(1, "summary_input_shape_zero", "summary c.toml").file("c.toml", digits("input_shape = [0]\nlayers = [{ type = \"linear\", out = 10 }]", "")).words(&["model.input_shape"]),
        c(6, "summary_conv2d_kernel_size_negative", "summary c.toml").file("c.toml", digits(&img("{ type = \"conv2d\", out = 4, kernel_size = -3 }"), "")).words(&[l0, "kernel_size"]).never(&["untagged enum"]),
    ];
    run_group("config_model", cases);
}

/// `[train]`, `[train.optimizer]` of each kind and `[train.schedule]` of each kind: values
/// out of range (betas, momentum, eps, weight decay, lr decay, a plateau factor), NaN and
/// infinity, negative and zero counts, huge epochs and batch sizes, wrong types, unknown keys,
/// bad enum strings, keys of another optimizer. Kinds 1 (refused only after the run folder was
/// made, or not at all) and 6 (the key path named).
#[test]
fn catalogue_config_train() {
    let t = |k, n, train: &str, w: &[&'static str]| tc(k, n, train_cfg(train), w);
    let o = |k, n, opt: &str, key: &'static str| tc(k, n, opt_cfg(opt), &["train.optimizer", key]);
    let s = |k, n, sc: &str, key: &'static str| tc(k, n, sched_cfg(sc), &["train.schedule", key]);
    let cases = vec![
        t(1, "epochs_zero", "epochs = 0\n", &["train.epochs"]),
        t(6, "epochs_negative", "epochs = -1\n", &["train.epochs"]),
        t(6, "epochs_float", "epochs = 2.5\n", &["train.epochs"]),
        t(6, "epochs_string", "epochs = \"two\"\n", &["train.epochs"]),
        t(
            1,
            "epochs_huge",
            "epochs = 1000000000000000000\n",
            &["train.epochs"],
        ),
        t(
            1,
            "batch_size_zero",
            "batch_size = 0\n",
            &["train.batch_size"],
        ),
        t(
            6,
            "batch_size_negative",
            "batch_size = -32\n",
            &["train.batch_size"],
        ),
        t(
            1,
            "batch_size_huge",
            "batch_size = 1000000000000000000\n",
            &["train.batch_size|bytes"],
        ),
        t(
            6,
            "batch_size_nan",
            "batch_size = nan\n",
            &["train.batch_size"],
        ),
        t(
            6,
            "loss_unknown",
            "loss = \"hinge\"\n",
            &["train.loss", "hinge"],
        ),
        t(
            6,
            "loss_regression_on_classes",
            "loss = \"l1\"\n",
            &["train.loss"],
        ),
        t(
            1,
            "label_smoothing_one",
            "label_smoothing = 1.0\n",
            &["train.label_smoothing"],
        ),
        t(
            1,
            "label_smoothing_nan",
            "label_smoothing = nan\n",
            &["train.label_smoothing"],
        ),
        t(
            1,
            "label_smoothing_negative",
            "label_smoothing = -0.1\n",
            &["train.label_smoothing"],
        ),
        t(
            1,
            "label_smoothing_with_nll",
            "loss = \"nll\"\nlabel_smoothing = 0.1\n",
            &["train.label_smoothing"],
        ),
        t(
            1,
            "huber_delta_without_huber",
            "loss = \"mse\"\nhuber_delta = 1.0\n",
            &["train.huber_delta"],
        ),
        tc(
            1,
            "huber_delta_negative",
            cfg(
                "dataset = \"diabetes\"",
                "layers = [{ type = \"linear\", out = 1 }]",
                "loss = \"huber\"\nhuber_delta = -1.0\n",
            ),
            &["train.huber_delta"],
        ),
        tc(
            1,
            "huber_delta_inf",
            cfg(
                "dataset = \"diabetes\"",
                "layers = [{ type = \"linear\", out = 1 }]",
                "loss = \"huber\"\nhuber_delta = inf\n",
            ),
            &["train.huber_delta"],
        ),
        t(
            6,
            "metrics_unknown",
            "metrics = [\"f1\"]\n",
            &["train.metrics", "f1"],
        ),
        t(
            6,
            "metrics_not_a_list",
            "metrics = \"accuracy\"\n",
            &["train.metrics"],
        ),
        t(
            6,
            "metrics_regression_on_classes",
            "metrics = [\"r2\"]\n",
            &["train.metrics"],
        ),
        t(
            1,
            "clip_grad_norm_zero",
            "clip_grad_norm = 0.0\n",
            &["train.clip_grad_norm"],
        ),
        t(
            1,
            "clip_grad_norm_negative",
            "clip_grad_norm = -1.0\n",
            &["train.clip_grad_norm"],
        ),
        t(
            1,
            "clip_grad_norm_nan",
            "clip_grad_norm = nan\n",
            &["train.clip_grad_norm"],
        ),
        t(
            1,
            "clip_grad_value_inf",
            "clip_grad_value = inf\n",
            &["train.clip_grad_value"],
        ),
        t(
            6,
            "clip_grad_value_string",
            "clip_grad_value = \"0.5\"\n",
            &["train.clip_grad_value"],
        ),
        t(6, "seed_negative", "seed = -1\n", &["train.seed"]),
        t(6, "seed_string", "seed = \"abc\"\n", &["train.seed"]),
        t(
            6,
            "checkpoint_every_negative",
            "checkpoint_every = -5\n",
            &["train.checkpoint_every"],
        ),
        t(
            1,
            "keep_checkpoints_zero",
            "keep_checkpoints = 0\n",
            &["train.keep_checkpoints"],
        ),
        t(
            6,
            "keep_checkpoints_word",
            "keep_checkpoints = \"every\"\n",
            &["train.keep_checkpoints"],
        ),
        t(
            6,
            "early_stopping_patience_negative",
            "early_stopping_patience = -1\n",
            &["train.early_stopping_patience"],
        ),
        t(
            1,
            "early_stopping_min_delta_nan",
            "early_stopping_min_delta = nan\n",
            &["train.early_stopping_min_delta"],
        ),
        t(
            1,
            "early_stopping_min_delta_negative",
            "early_stopping_min_delta = -0.5\n",
            &["train.early_stopping_min_delta"],
        ),
        t(
            6,
            "health_every_negative",
            "health_every = -1\n",
            &["train.health_every"],
        ),
        t(
            6,
            "progress_unknown",
            "progress = \"loud\"\n",
            &["train.progress", "loud"],
        ),
        t(
            6,
            "detect_anomaly_string",
            "detect_anomaly = \"yes\"\n",
            &["train.detect_anomaly"],
        ),
        t(
            6,
            "tensorboard_number",
            "tensorboard = 1\n",
            &["train.tensorboard"],
        ),
        t(6, "out_dir_number", "out_dir = 5\n", &["train.out_dir"]),
        t(
            6,
            "schedule_per_step_string",
            "schedule_per_step = \"x\"\n",
            &["train.schedule_per_step"],
        ),
        t(6, "train_unknown_key", "lr = 0.1\n", &["lr"]),
        t(
            6,
            "train_task_key_not_settable",
            "task = \"regression\"\n",
            &["task"],
        ),
        // the optimizer
        t(
            6,
            "optimizer_name_unknown",
            "optimizer = { name = \"lbfgs\" }\n",
            &["train.optimizer", "lbfgs"],
        ),
        t(
            6,
            "optimizer_without_name",
            "optimizer = { lr = 0.1 }\n",
            &["train.optimizer", "name"],
        ),
        t(
            6,
            "optimizer_is_a_string",
            "optimizer = \"adam\"\n",
            &["train.optimizer"],
        ),
        o(6, "sgd_without_lr", "name = \"sgd\"", "lr"),
        o(1, "sgd_lr_negative", "name = \"sgd\", lr = -0.1", "lr"),
        o(1, "sgd_lr_nan", "name = \"sgd\", lr = nan", "lr"),
        o(1, "sgd_lr_inf", "name = \"sgd\", lr = inf", "lr"),
        o(6, "sgd_lr_string", "name = \"sgd\", lr = \"0.1\"", "lr"),
        o(
            1,
            "sgd_momentum_negative",
            "name = \"sgd\", lr = 0.1, momentum = -0.5",
            "momentum",
        ),
        o(
            1,
            "sgd_momentum_nan",
            "name = \"sgd\", lr = 0.1, momentum = nan",
            "momentum",
        ),
        o(
            1,
            "sgd_dampening_negative",
            "name = \"sgd\", lr = 0.1, momentum = 0.9, dampening = -1.0",
            "dampening",
        ),
        o(
            1,
            "sgd_nesterov_without_momentum",
            "name = \"sgd\", lr = 0.1, nesterov = true",
            "nesterov",
        ),
        o(
            1,
            "sgd_weight_decay_negative",
            "name = \"sgd\", lr = 0.1, weight_decay = -1.0",
            "weight_decay",
        ),
        o(
            1,
            "sgd_weight_decay_inf",
            "name = \"sgd\", lr = 0.1, weight_decay = inf",
            "weight_decay",
        ),
        o(
            6,
            "sgd_betas_not_its_key",
            "name = \"sgd\", lr = 0.1, betas = [0.9, 0.99]",
            "betas",
        ),
        o(
            1,
            "adam_betas_above_1",
            "name = \"adam\", betas = [1.5, 0.999]",
            "betas",
        ),
        o(
            1,
            "adam_betas_negative",
            "name = \"adam\", betas = [-0.1, 0.999]",
            "betas",
        ),
        o(
            1,
            "adam_betas_nan",
            "name = \"adam\", betas = [0.9, nan]",
            "betas",
        ),
        o(
            6,
            "adam_betas_one_value",
            "name = \"adam\", betas = [0.9]",
            "betas",
        ),
        o(
            6,
            "adam_betas_empty",
            "name = \"adam\", betas = []",
            "betas",
        ),
        o(
            6,
            "adam_betas_three_values",
            "name = \"adam\", betas = [0.9, 0.99, 0.999]",
            "betas",
        ),
        o(1, "adam_eps_zero", "name = \"adam\", eps = 0.0", "eps"),
        o(
            1,
            "adam_eps_negative",
            "name = \"adam\", eps = -1e-8",
            "eps",
        ),
        o(1, "adam_lr_nan", "name = \"adam\", lr = nan", "lr"),
        o(
            1,
            "adam_weight_decay_negative",
            "name = \"adam\", weight_decay = -0.01",
            "weight_decay",
        ),
        o(
            6,
            "adam_amsgrad_string",
            "name = \"adam\", amsgrad = \"yes\"",
            "amsgrad",
        ),
        o(
            6,
            "adam_momentum_not_its_key",
            "name = \"adam\", momentum = 0.9",
            "momentum",
        ),
        o(
            1,
            "adamw_betas_one",
            "name = \"adamw\", betas = [0.9, 1.0]",
            "betas",
        ),
        o(1, "adamw_eps_nan", "name = \"adamw\", eps = nan", "eps"),
        o(
            1,
            "adamw_weight_decay_negative",
            "name = \"adamw\", weight_decay = -1.0",
            "weight_decay",
        ),
        o(1, "adamw_lr_inf", "name = \"adamw\", lr = inf", "lr"),
        o(
            1,
            "rmsprop_alpha_negative",
            "name = \"rmsprop\", alpha = -0.5",
            "alpha",
        ),
        o(
            1,
            "rmsprop_alpha_nan",
            "name = \"rmsprop\", alpha = nan",
            "alpha",
        ),
        o(
            1,
            "rmsprop_eps_zero",
            "name = \"rmsprop\", eps = 0.0",
            "eps",
        ),
        o(
            1,
            "rmsprop_momentum_negative",
            "name = \"rmsprop\", momentum = -1.0",
            "momentum",
        ),
        o(
            1,
            "rmsprop_weight_decay_nan",
            "name = \"rmsprop\", weight_decay = nan",
            "weight_decay",
        ),
        o(
            6,
            "rmsprop_centered_number",
            "name = \"rmsprop\", centered = 1",
            "centered",
        ),
        o(
            1,
            "adagrad_lr_decay_negative",
            "name = \"adagrad\", lr_decay = -0.1",
            "lr_decay",
        ),
        o(
            1,
            "adagrad_lr_decay_nan",
            "name = \"adagrad\", lr_decay = nan",
            "lr_decay",
        ),
        o(
            1,
            "adagrad_weight_decay_negative",
            "name = \"adagrad\", weight_decay = -1.0",
            "weight_decay",
        ),
        o(
            1,
            "adagrad_lr_negative",
            "name = \"adagrad\", lr = -0.01",
            "lr",
        ),
        // the schedule
        t(
            6,
            "schedule_name_unknown",
            "schedule = { name = \"linear\" }\n",
            &["train.schedule", "linear"],
        ),
        t(
            6,
            "schedule_is_a_string",
            "schedule = \"cosine\"\n",
            &["train.schedule"],
        ),
        s(
            6,
            "schedule_unknown_key",
            "name = \"step\", step_size = 1, decay = 2",
            "decay",
        ),
        s(
            1,
            "step_step_size_zero",
            "name = \"step\", step_size = 0",
            "step_size",
        ),
        s(6, "step_step_size_missing", "name = \"step\"", "step_size"),
        s(
            6,
            "step_step_size_negative",
            "name = \"step\", step_size = -1",
            "step_size",
        ),
        s(
            1,
            "step_gamma_negative",
            "name = \"step\", step_size = 1, gamma = -0.5",
            "gamma",
        ),
        s(
            1,
            "step_gamma_nan",
            "name = \"step\", step_size = 1, gamma = nan",
            "gamma",
        ),
        s(
            6,
            "multi_step_milestones_missing",
            "name = \"multi_step\"",
            "milestones",
        ),
        s(
            6,
            "multi_step_milestones_negative",
            "name = \"multi_step\", milestones = [-1]",
            "milestones",
        ),
        s(
            1,
            "multi_step_gamma_inf",
            "name = \"multi_step\", milestones = [1], gamma = inf",
            "gamma",
        ),
        s(
            1,
            "exponential_gamma_inf",
            "name = \"exponential\", gamma = inf",
            "gamma",
        ),
        s(
            6,
            "exponential_gamma_missing",
            "name = \"exponential\"",
            "gamma",
        ),
        s(
            1,
            "cosine_t_max_zero",
            "name = \"cosine\", t_max = 0",
            "t_max",
        ),
        s(
            1,
            "cosine_eta_min_negative",
            "name = \"cosine\", eta_min = -1.0",
            "eta_min",
        ),
        s(
            1,
            "cosine_eta_min_nan",
            "name = \"cosine\", eta_min = nan",
            "eta_min",
        ),
        s(
            1,
            "warmup_start_factor_zero",
            "name = \"warmup\", start_factor = 0.0, total_iters = 5",
            "start_factor",
        ),
        s(
            1,
            "warmup_start_factor_above_1",
            "name = \"warmup\", start_factor = 1.5, total_iters = 5",
            "start_factor",
        ),
        s(
            1,
            "warmup_total_iters_zero",
            "name = \"warmup\", total_iters = 0",
            "total_iters",
        ),
        s(
            1,
            "one_cycle_max_lr_negative",
            "name = \"one_cycle\", max_lr = -1.0",
            "max_lr",
        ),
        s(
            1,
            "one_cycle_max_lr_nan",
            "name = \"one_cycle\", max_lr = nan",
            "max_lr",
        ),
        s(
            1,
            "one_cycle_pct_start_one",
            "name = \"one_cycle\", max_lr = 0.1, pct_start = 1.0",
            "pct_start",
        ),
        s(
            1,
            "plateau_factor_above_1",
            "name = \"plateau\", factor = 1.5",
            "factor",
        ),
        s(
            1,
            "plateau_factor_zero",
            "name = \"plateau\", factor = 0.0",
            "factor",
        ),
        s(
            1,
            "plateau_factor_nan",
            "name = \"plateau\", factor = nan",
            "factor",
        ),
        s(
            6,
            "plateau_patience_negative",
            "name = \"plateau\", patience = -1",
            "patience",
        ),
        // (a plateau schedule without validation data monitors the training loss, as
        // PyTorch's ReduceLROnPlateau does with whatever it is given)
        // the epoch line shows the learning rate the epoch used (0.05, halved after it)
        c(
            4,
            "epoch_line_shows_the_lr_used",
            "train c.toml --out out --plain",
        )
        .file(
            "c.toml",
            sched_cfg("name = \"step\", step_size = 1, gamma = 0.5"),
        )
        .ok()
        .out(&["lr 5.000e-2"])
        .file_has("out/metrics.jsonl", "\"lr\":0.05,"),
    ];
    run_group("config_train", cases);
}

/// `train --resume`: damaged or out-of-range state, a `config.toml` edited since the
/// checkpoint (another model, optimizer, batch size mid-epoch), a finished run, `--epochs`
/// below what is done, flags that do not go with `--resume`. Every refusal leaves the whole
/// run folder (config.toml, summary.json, metrics.jsonl, checkpoints) byte-identical. Kinds 3
/// (resume changes what it refuses), 4 (`--data` ignored) and 6 (messages).
#[test]
fn catalogue_resume() {
    const S77: &str = "run/checkpoints/ckpt-0000000077/state.json";
    const S82: &str = "run/checkpoints/ckpt-0000000082/state.json";
    const SB: &str = "run/checkpoints/best/state.json";
    let r = |k, n, args: &str| c(k, n, args).run(Base::Mlp);
    // the top of both step checkpoints' state.json (epoch 1 mid-epoch at step 77; epoch 2 done
    // at step 82) set to `epoch` and `step`
    let top = |case: Case, epoch: &str, step: &str| {
        case.replace(
            S77,
            "{\n  \"epoch\": 1,\n  \"step\": 77,",
            format!("{{\n  \"epoch\": {epoch},\n  \"step\": {step},"),
        )
        .replace(
            S82,
            "{\n  \"epoch\": 2,\n  \"step\": 82,",
            format!("{{\n  \"epoch\": {epoch},\n  \"step\": {step},"),
        )
    };
    let all_states = |case: Case, b: &'static [u8]| case.bytes(S77, b).bytes(S82, b).bytes(SB, b);
    let sgd = "name = \"sgd\"\nlr = 0.05\nmomentum = 0.9\ndampening = 0.0\nnesterov = false\nweight_decay = 0.0";
    let cases = vec![
        r(3, "finished_run_without_epochs", "train --resume run").words(&["finished"]),
        r(3, "epochs_below_done", "train --resume run --epochs 1").words(&["--epochs"]),
        r(3, "epochs_equal_to_done", "train --resume run --epochs 2").words(&["finished|--epochs"]),
        r(6, "epochs_zero", "train --resume run --epochs 0").words(&["--epochs"]),
        r(6, "epochs_negative", "train --resume run --epochs -1").words(&["--epochs"]),
        r(
            1,
            "epochs_huge",
            "train --resume run --epochs 1000000000000000000",
        )
        .words(&["--epochs"]),
        all_states(
            r(3, "state_not_json", "train --resume run --epochs 3"),
            b"{ not json",
        )
        .words(&["state.json"]),
        all_states(r(3, "state_empty", "train --resume run --epochs 3"), b"")
            .words(&["state.json"]),
        top(
            r(
                3,
                "state_epoch_out_of_range",
                "train --resume run --epochs 3",
            ),
            "99999999999",
            "82",
        )
        .words(&["state.json", "epoch"]),
        top(
            r(3, "state_epoch_u64_max", "train --resume run --epochs 3"),
            "18446744073709551615",
            "82",
        )
        .words(&["state.json", "epoch"]),
        top(
            r(3, "state_epoch_negative", "train --resume run --epochs 3"),
            "-1",
            "82",
        )
        .words(&["state.json"]),
        top(
            r(
                3,
                "state_step_out_of_range",
                "train --resume run --epochs 3",
            ),
            "2",
            "99999999999999",
        )
        .words(&["state.json", "step"]),
        r(
            3,
            "state_cursor_out_of_range",
            "train --resume run --epochs 3",
        )
        .edit(Edit::Remove("run/checkpoints/ckpt-0000000082"))
        .replace(
            S77,
            "\"cursor\": [\n    1,\n    36,",
            "\"cursor\": [\n    1,\n    999999,",
        )
        .words(&["state.json", "cursor|position"]),
        r(
            3,
            "state_rng_pos_out_of_range",
            "train --resume run --epochs 3",
        )
        .replace(S77, "\"rng_pos\": 608,", "\"rng_pos\": 99999,")
        .replace(S82, "\"rng_pos\": 400,", "\"rng_pos\": 99999,")
        .words(&["state.json|ckpt-0000000082"]),
        r(3, "state_missing", "train --resume run --epochs 3")
            .edit(Edit::Remove(S77))
            .edit(Edit::Remove(S82))
            .edit(Edit::Remove(SB))
            .words(&["state.json"]),
        r(3, "model_weights_cut", "train --resume run --epochs 3")
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000077/model.safetensors",
            ))
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000082/model.safetensors",
            ))
            .edit(Edit::Cut("run/checkpoints/best/model.safetensors"))
            .words(&["model.safetensors"]),
        r(3, "optimizer_state_cut", "train --resume run --epochs 3")
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000077/optim.safetensors",
            ))
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000082/optim.safetensors",
            ))
            .edit(Edit::Cut("run/checkpoints/best/optim.safetensors"))
            .words(&["optim.safetensors"]),
        r(3, "no_checkpoints", "train --resume run --epochs 3")
            .edit(Edit::Remove("run/checkpoints"))
            .words(&["checkpoint"]),
        r(3, "config_other_model", "train --resume run --epochs 3")
            .replace("run/config.toml", "out = 32", "out = 16")
            .words(&["model|0.weight"]),
        r(
            3,
            "config_other_layer_type",
            "train --resume run --epochs 3",
        )
        .replace("run/config.toml", "type = \"relu\"", "type = \"tanh\"")
        .words(&["model|model.layers[1]"]),
        r(3, "config_other_optimizer", "train --resume run --epochs 3")
            .replace("run/config.toml", sgd, "name = \"adam\"\nlr = 0.01")
            .words(&["optimizer"]),
        r(
            3,
            "config_batch_size_changed_mid_epoch",
            "train --resume run --epochs 3",
        )
        .edit(Edit::Remove("run/checkpoints/ckpt-0000000082"))
        .replace("run/config.toml", "batch_size = 32", "batch_size = 16")
        .words(&["batch_size"]),
        r(3, "config_seed_changed", "train --resume run --epochs 3")
            .edit(Edit::Remove("run/checkpoints/ckpt-0000000082"))
            .replace("run/config.toml", "seed = 0", "seed = 7")
            .words(&["seed"]),
        r(3, "config_damaged", "train --resume run --epochs 3")
            .file("run/config.toml", "[train\nepochs = ")
            .words(&["config.toml"]),
        r(3, "config_invalid_value", "train --resume run --epochs 3")
            .replace("run/config.toml", "batch_size = 32", "batch_size = 0")
            .words(&["train.batch_size"]),
        r(
            3,
            "config_betas_out_of_range",
            "train --resume run --epochs 3",
        )
        .replace(
            "run/config.toml",
            sgd,
            "name = \"adam\"\nbetas = [1.5, 0.999]",
        )
        .words(&["train.optimizer", "betas"]),
        r(3, "config_missing", "train --resume run --epochs 3")
            .edit(Edit::Remove("run/config.toml"))
            .words(&["config.toml"]),
        r(
            6,
            "resume_with_config",
            "train c.toml --resume run --epochs 3",
        )
        .file("c.toml", SMALL)
        .words(&["--resume|CONFIG|config"]),
        r(
            6,
            "resume_with_seed",
            "train --resume run --epochs 3 --seed 4",
        )
        .words(&["--seed"]),
        r(
            6,
            "resume_with_out",
            "train --resume run --epochs 3 --out other",
        )
        .words(&["--out"]),
        r(
            4,
            "resume_data_flag_on_digits",
            "train --resume run --epochs 3 --data somewhere",
        )
        .edit(Edit::Mkdir("somewhere"))
        .words(&["--data"]),
        r(6, "resume_not_a_run", "train --resume empty --epochs 3")
            .edit(Edit::Mkdir("empty"))
            .words(&["empty"]),
        r(6, "resume_missing_folder", "train --resume nope --epochs 3").words(&["nope"]),
        r(6, "resume_symlink_loop", "train --resume loop --epochs 3")
            .loop_at("loop")
            .words(&["loop", "symlink|symbolic link|loop|resolve"])
            .never(&["does not exist", "No such file"]),
        r(
            6,
            "resume_folder_is_a_file",
            "train --resume afile --epochs 3",
        )
        .file("afile", "x")
        .words(&["afile"]),
        c(
            4,
            "resume_text_config_made_bidirectional",
            "train --resume run --epochs 3",
        )
        .run(Base::Text)
        .replace(
            "run/config.toml",
            "bidirectional = false",
            "bidirectional = true",
        )
        .words(&["model.layers[1]", "bidirectional"]),
        c(
            3,
            "resume_text_vocab_damaged",
            "train --resume run --epochs 3",
        )
        .run(Base::Text)
        .file("run/vocab.json", "{ not json")
        .words(&["vocab.json"]),
        c(3, "resume_text_finished", "train --resume run")
            .run(Base::Text)
            .words(&["finished"]),
    ];
    run_group("resume", cases);
}

/// `eval`, `predict`, `sample`, `health`, `report`, `summary`, `gradcheck` on prepared runs
/// (digits MLP, char-LSTM, headerless CSV) and damaged copies: text runs that must work, a
/// damaged metrics line that must be skipped (other lines kept), `report -o` naming a run
/// file, `--data` where it does not apply, a numeric first row predicted, `sample` lengths
/// beyond the cap, symlink loops. Kinds 4 (numbers that mean something else), 5 (valid input
/// refused or good data lost) and 6 (messages).
#[test]
fn catalogue_run_commands() {
    let m = |k, n, args: &str| c(k, n, args).run(Base::Mlp);
    let tx = |k, n, args: &str| c(k, n, args).run(Base::Text);
    let cases = vec![
        // eval
        tx(5, "eval_text_run", "eval run")
            .ok()
            .out(&["loss|bpc"])
            .unchanged(&["run"]),
        m(5, "eval_mlp_run", "eval run")
            .ok()
            .out(&["test_accuracy="])
            .unchanged(&["run"]),
        m(4, "eval_data_flag_on_digits", "eval run --data somewhere")
            .edit(Edit::Mkdir("somewhere"))
            .words(&["--data"]),
        m(4, "eval_empty_test_set", "eval run")
            .replace(
                "run/config.toml",
                "validation_split = 0.1",
                "validation_split = 0.1\ntest_split = 0.0",
            )
            .codes(&[0, 2])
            .words(&["test"])
            .never(&["test_accuracy=0.0000", "test_loss=0.0000"])
            .unchanged(&["run"]),
        m(6, "eval_missing_run", "eval nope").words(&["nope"]),
        m(6, "eval_symlink_loop", "eval loop")
            .loop_at("loop")
            .words(&["loop", "symlink|symbolic link|loop|resolve"])
            .never(&["no such", "does not exist", "No such file"]),
        m(6, "eval_not_a_run", "eval empty")
            .edit(Edit::Mkdir("empty"))
            .words(&["empty"]),
        m(6, "eval_run_is_a_file", "eval afile")
            .file("afile", "x")
            .words(&["afile"]),
        m(
            6,
            "eval_checkpoint_missing",
            "eval run --checkpoint nowhere",
        )
        .words(&["nowhere"]),
        m(
            6,
            "eval_checkpoint_symlink_loop",
            "eval run --checkpoint loop",
        )
        .loop_at("loop")
        .words(&["loop"])
        .never(&["does not exist", "No such file"]),
        m(6, "eval_config_damaged", "eval run")
            .file("run/config.toml", "[model\n")
            .words(&["config.toml"]),
        m(6, "eval_all_weights_cut", "eval run")
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000077/model.safetensors",
            ))
            .edit(Edit::Cut(
                "run/checkpoints/ckpt-0000000082/model.safetensors",
            ))
            .edit(Edit::Cut("run/checkpoints/best/model.safetensors"))
            .words(&["model.safetensors"]),
        m(6, "eval_other_model_config", "eval run")
            .replace("run/config.toml", "out = 32", "out = 16")
            .words(&["0.weight|does not fit"]),
        // predict
        m(
            4,
            "predict_numeric_first_row_kept_mlp",
            "predict run rows.csv",
        )
        .file("rows.csv", pixel_rows(3))
        .ok()
        .out(&["rows.csv:1:", "rows.csv:2:", "rows.csv:3:"])
        .unchanged(&["run"]),
        c(
            4,
            "predict_numeric_first_row_kept_csv",
            "predict run rows.csv",
        )
        .run(Base::Csv)
        .file("rows.csv", "10,100,6\n7.1,103.2,-6.1\n13.1,97.3,6.2\n")
        .ok()
        .out(&["rows.csv:1:", "rows.csv:2:", "rows.csv:3:"])
        .unchanged(&["run"]),
        c(4, "predict_single_integer_row_csv", "predict run one.csv")
            .run(Base::Csv)
            .file("one.csv", "10,100,6\n")
            .ok()
            .out(&["one.csv:1:"]),
        m(6, "predict_no_inputs", "predict run").words(&["INPUT|inputs"]),
        m(6, "predict_missing_input", "predict run missing.csv").words(&["missing.csv"]),
        m(6, "predict_input_symlink_loop", "predict run loop.csv")
            .loop_at("loop.csv")
            .words(&["loop.csv", "symlink|symbolic link|loop|resolve"])
            .never(&["does not exist", "No such file"]),
        m(6, "predict_wrong_width", "predict run wide.csv")
            .file("wide.csv", "1,2,3,4,5\n")
            .words(&["wide.csv"]),
        m(6, "predict_empty_csv", "predict run empty.csv")
            .file("empty.csv", "")
            .words(&["empty.csv"]),
        m(4, "predict_nan_value", "predict run nan.csv")
            .file("nan.csv", vec!["nan"; 64].join(",") + "\n")
            .words(&["nan.csv"]),
        m(6, "predict_not_a_png", "predict run bad.png")
            .file("bad.png", "not a png")
            .words(&["bad.png"]),
        m(6, "predict_unknown_extension", "predict run x.bmp")
            .file("x.bmp", "BM")
            .words(&["x.bmp"]),
        tx(6, "predict_text_unknown_char", "predict run in.txt")
            .file("in.txt", "abz")
            .words(&["in.txt|'z'"]),
        tx(5, "predict_text_run", "predict run in.txt")
            .file("in.txt", "abc de")
            .ok()
            .out(&["logits"]),
        // sample
        tx(1, "sample_length_above_cap", "sample run --length 2000000")
            .words(&["--length", "1000000|1,000,000|1 000 000"]),
        tx(
            1,
            "sample_length_huge",
            "sample run --length 1000000000000000000",
        )
        .words(&["--length"]),
        tx(6, "sample_length_negative", "sample run --length -1").words(&["--length"]),
        tx(6, "sample_length_word", "sample run --length many").words(&["--length"]),
        tx(1, "sample_temperature_nan", "sample run --temperature NaN").words(&["--temperature"]),
        tx(1, "sample_temperature_inf", "sample run --temperature inf").words(&["--temperature"]),
        tx(1, "sample_temperature_zero", "sample run --temperature 0").words(&["--temperature"]),
        tx(1, "sample_top_k_zero", "sample run --top-k 0").words(&["--top-k"]),
        tx(6, "sample_top_k_negative", "sample run --top-k -3").words(&["--top-k"]),
        tx(6, "sample_seed_negative", "sample run --seed -5").words(&["--seed"]),
        tx(6, "sample_prompt_unknown_char", "sample run --prompt abz").words(&["'z'"]),
        tx(6, "sample_vocab_damaged", "sample run")
            .file("run/vocab.json", "{ not json")
            .words(&["vocab.json"]),
        tx(6, "sample_vocab_missing", "sample run")
            .edit(Edit::Remove("run/vocab.json"))
            .words(&["vocab.json"]),
        m(6, "sample_on_classifier", "sample run").words(&["not a text model"]),
        m(6, "sample_symlink_loop", "sample loop")
            .loop_at("loop")
            .words(&["loop"])
            .never(&["does not exist", "No such file"]),
        tx(5, "sample_text_run", "sample run --length 20 --prompt abc")
            .ok()
            .out(&["abc"])
            .unchanged(&["run"]),
        // health
        tx(5, "health_text_run", "health run")
            .codes(&[0, 2])
            .words(&["health"])
            .unchanged(&["run"]),
        m(6, "health_missing_run", "health nope").words(&["nope"]),
        m(6, "health_symlink_loop", "health loop")
            .loop_at("loop")
            .words(&["loop"])
            .never(&["does not exist", "No such file"]),
        m(6, "health_all_lines_damaged", "health run")
            .file("run/health.jsonl", "garbage\nmore garbage\n")
            .words(&["health.jsonl"]),
        m(6, "health_not_a_run", "health empty")
            .edit(Edit::Mkdir("empty"))
            .words(&["not a nabla run|config.toml"]),
        // report
        m(
            5,
            "report_one_damaged_metrics_line_stdout",
            "report run --stdout",
        )
        .replace(
            "run/metrics.jsonl",
            "\n{\"epoch\":2,",
            "\n{\"epoch\":2,\"trai\n{\"epoch\":2,",
        )
        .ok()
        .warn(&["metrics.jsonl", "line 2"])
        .out(&["best val loss (epoch 2)"])
        .unchanged(&["run"]),
        m(5, "report_one_damaged_metrics_line_first", "report run")
            .replace(
                "run/metrics.jsonl",
                "{\"epoch\":1,\"step\":41,",
                "{\"epoch\":1,\"step\":41,\"x\":}",
            )
            .ok()
            .warn(&["metrics.jsonl"])
            .file_has("run/report.html", "best val loss (epoch 2)")
            .unchanged(&[
                "run/metrics.jsonl",
                "run/config.toml",
                "run/summary.json",
                "run/checkpoints",
            ]),
        m(5, "report_metrics_line_wrong_type", "report run --stdout")
            .replace(
                "run/metrics.jsonl",
                "{\"epoch\":1,\"step\":41,",
                "{\"epoch\":\"one\",\"step\":41,",
            )
            .ok()
            .warn(&["metrics.jsonl"])
            .out(&["best val loss (epoch 2)"])
            .unchanged(&["run"]),
        m(5, "report_metrics_binary_line", "report run --stdout")
            .replace(
                "run/metrics.jsonl",
                "{\"epoch\":2,",
                "\u{0}\u{1}\u{2}\n{\"epoch\":2,",
            )
            .ok()
            .warn(&["metrics.jsonl"])
            .out(&["best val loss (epoch 2)"])
            .unchanged(&["run"]),
        m(5, "report_summary_damaged", "report run --stdout")
            .file("run/summary.json", "{ cut")
            .ok()
            .warn(&["summary.json"])
            .out(&["best val loss (epoch 2)"])
            .unchanged(&["run"]),
        m(
            5,
            "report_output_is_runs_config",
            "report run -o run/config.toml",
        )
        .words(&["config.toml"]),
        m(
            5,
            "report_output_is_runs_metrics",
            "report run -o run/metrics.jsonl",
        )
        .words(&["metrics.jsonl"]),
        m(
            5,
            "report_output_is_runs_summary",
            "report run -o run/summary.json",
        )
        .words(&["summary.json"]),
        m(
            5,
            "report_output_is_runs_health",
            "report run -o run/health.jsonl",
        )
        .words(&["health.jsonl"]),
        m(
            5,
            "report_output_is_a_checkpoint_file",
            "report run -o run/checkpoints/best/model.safetensors",
        )
        .words(&["model.safetensors"]),
        m(
            5,
            "report_output_is_runs_config_by_other_path",
            "report run -o ./run/../run/config.toml",
        )
        .words(&["config.toml"]),
        m(6, "report_output_is_a_folder", "report run -o run").words(&["run"]),
        m(
            6,
            "report_output_parent_missing",
            "report run -o nodir/x.html",
        )
        .words(&["nodir"]),
        m(
            6,
            "report_stdout_and_output",
            "report run --stdout -o x.html",
        )
        .words(&["--stdout|--output"]),
        m(6, "report_missing_run", "report nope").words(&["nope"]),
        m(6, "report_not_a_run", "report empty")
            .edit(Edit::Mkdir("empty"))
            .words(&["not a nabla run|config.toml"]),
        m(6, "report_symlink_loop", "report loop")
            .loop_at("loop")
            .words(&["loop"])
            .never(&["does not exist", "No such file"]),
        tx(5, "report_text_run", "report run --stdout")
            .ok()
            .out(&["<html|<!DOCTYPE|<!doctype"])
            .unchanged(&["run"]),
        // summary and gradcheck
        c(5, "summary_text_with_input_shape", "summary c.toml")
            .file(
                "c.toml",
                text_cfg("{ type = \"lstm\", hidden = 16 }", "")
                    .replace("dim = 8 }", "dim = 8, num = 12 }")
                    .replace("[model]\n", "[model]\ninput_shape = [8]\n"),
            )
            .ok()
            .out(&["Total params"]),
        c(5, "summary_text_from_data", "summary c.toml")
            .file("c.toml", text_cfg("{ type = \"lstm\", hidden = 16 }", ""))
            .text()
            .ok()
            .out(&["Total params"]),
        c(
            4,
            "summary_data_flag_on_digits",
            "summary c.toml --data somewhere",
        )
        .file("c.toml", train_cfg(""))
        .edit(Edit::Mkdir("somewhere"))
        .words(&["--data"]),
        c(6, "summary_missing_config", "summary missing.toml").words(&["missing.toml"]),
        c(6, "summary_config_is_a_folder", "summary adir")
            .edit(Edit::Mkdir("adir"))
            .words(&["adir"]),
        c(6, "summary_config_symlink_loop", "summary loop.toml")
            .loop_at("loop.toml")
            .words(&["loop.toml", "symlink|symbolic link|loop|resolve"])
            .never(&["does not exist", "No such file"]),
        c(6, "summary_config_not_utf8", "summary c.toml")
            .bytes("c.toml", b"[train]\nepochs = \xff\n")
            .words(&["c.toml"]),
        c(
            4,
            "gradcheck_data_flag_on_digits",
            "gradcheck c.toml --data somewhere",
        )
        .file("c.toml", train_cfg(""))
        .edit(Edit::Mkdir("somewhere"))
        .words(&["--data"]),
        c(6, "gradcheck_missing_config", "gradcheck missing.toml").words(&["missing.toml"]),
        c(1, "gradcheck_bad_optimizer", "gradcheck c.toml")
            .file("c.toml", opt_cfg("name = \"adam\", betas = [1.5, 0.9]"))
            .words(&["train.optimizer", "betas"]),
        c(5, "gradcheck_text_model", "gradcheck c.toml")
            .file("c.toml", text_cfg("{ type = \"lstm\", hidden = 4 }", ""))
            .text()
            .codes(&[0, 2])
            .words(&["text|language"]),
        // train: flags that do not apply, folders in use
        c(
            4,
            "train_data_flag_on_digits",
            "train c.toml --data somewhere --out never",
        )
        .file("c.toml", train_cfg(""))
        .edit(Edit::Mkdir("somewhere"))
        .words(&["--data"]),
        c(
            4,
            "train_data_flag_on_diabetes",
            "train c.toml --data somewhere --out never",
        )
        .file(
            "c.toml",
            cfg(
                "dataset = \"diabetes\"",
                "layers = [{ type = \"linear\", out = 1 }]",
                "loss = \"mse\"\n",
            ),
        )
        .edit(Edit::Mkdir("somewhere"))
        .words(&["--data"]),
        m(5, "train_into_existing_run", "train c.toml --out run")
            .file("c.toml", SMALL)
            .words(&["already holds a run|run"]),
        c(
            6,
            "train_config_symlink_loop",
            "train loop.toml --out never",
        )
        .loop_at("loop.toml")
        .words(&["loop.toml", "symlink|symbolic link|loop|resolve"])
        .never(&["does not exist", "No such file"]),
        c(6, "train_out_symlink_loop", "train c.toml --out loop")
            .file("c.toml", train_cfg(""))
            .loop_at("loop")
            .words(&["loop"]),
        c(6, "train_out_under_a_file", "train c.toml --out afile/sub")
            .file("c.toml", train_cfg(""))
            .file("afile", "x")
            .words(&["afile/sub"]),
        c(6, "train_config_is_a_folder", "train adir --out never")
            .edit(Edit::Mkdir("adir"))
            .words(&["adir"]),
        c(6, "train_missing_config", "train missing.toml --out never").words(&["missing.toml"]),
    ];
    run_group("run_commands", cases);
}

/// Command-line arguments of every command: missing required arguments (named), negative
/// numbers (the option named), zero and huge counts, bad words, flags of another command,
/// `data fetch` without a network (a mirror that refuses, bad dataset names), `demo xor`,
/// `demo vanishing`, `bench --sizes`/`--batches`. Kinds 1 (huge values abort, 0 accepted) and
/// 6 (what to fix named).
#[test]
fn catalogue_cli_args() {
    let a = |k, n, args: &str, w: &[&'static str]| c(k, n, args).words(w);
    let mirror = "http://127.0.0.1:9/";
    let cases = vec![
        a(6, "eval_without_run_dir", "eval", &["RUN_DIR|run_dir"]),
        a(
            6,
            "predict_without_arguments",
            "predict",
            &["RUN_DIR|run_dir"],
        ),
        a(6, "sample_without_run_dir", "sample", &["RUN_DIR|run_dir"]),
        a(6, "health_without_run_dir", "health", &["RUN_DIR|run_dir"]),
        a(6, "report_without_run_dir", "report", &["RUN_DIR|run_dir"]),
        a(6, "summary_without_config", "summary", &["CONFIG|config"]),
        a(
            6,
            "gradcheck_without_config",
            "gradcheck",
            &["CONFIG|config"],
        ),
        a(
            6,
            "data_fetch_without_dataset",
            "data fetch --to out",
            &["DATASET|dataset"],
        ),
        a(6, "data_fetch_without_to", "data fetch mnist", &["--to"]),
        a(
            6,
            "train_epochs_negative",
            "train --epochs -1 --out never",
            &["--epochs"],
        ),
        a(
            6,
            "train_epochs_word",
            "train --epochs x --out never",
            &["--epochs"],
        ),
        a(
            6,
            "train_epochs_zero",
            "train --epochs 0 --out never",
            &["--epochs"],
        ),
        a(
            1,
            "train_epochs_huge",
            "train --epochs 1000000000000000000 --out never",
            &["--epochs"],
        ),
        a(
            6,
            "train_epochs_beyond_u64",
            "train --epochs 99999999999999999999999 --out never",
            &["--epochs"],
        ),
        a(
            6,
            "train_seed_negative",
            "train --seed -1 --out never",
            &["--seed"],
        ),
        a(
            6,
            "train_threads_zero",
            "train --threads 0 --out never",
            &["--threads"],
        ),
        a(
            6,
            "train_threads_negative",
            "train --threads -2 --out never",
            &["--threads"],
        ),
        a(
            1,
            "train_threads_huge",
            "train --threads 100000 --out never",
            &["--threads"],
        ),
        a(6, "train_out_without_value", "train --out", &["--out"]),
        a(
            6,
            "train_resume_without_value",
            "train --resume",
            &["--resume"],
        ),
        a(6, "train_unknown_flag", "train --bogus", &["--bogus"]),
        a(
            6,
            "train_two_configs",
            "train a.toml b.toml",
            &["b.toml|argument"],
        ),
        a(
            6,
            "train_tensorboard_with_value",
            "train --tensorboard=yes --out never",
            &["--tensorboard"],
        ),
        a(6, "eval_unknown_flag", "eval run --logits", &["--logits"]),
        a(
            6,
            "sample_length_negative_without_run",
            "sample run --length -1",
            &["--length"],
        ),
        a(
            6,
            "sample_top_k_negative_without_run",
            "sample run --top-k -1",
            &["--top-k"],
        ),
        a(
            6,
            "sample_temperature_word",
            "sample run --temperature warm",
            &["--temperature"],
        ),
        a(
            6,
            "report_stdout_with_value",
            "report run --stdout=1",
            &["--stdout"],
        ),
        a(6, "demo_without_name_is_named", "demo nosuch", &["nosuch"]),
        a(
            6,
            "demo_xor_seed_negative",
            "demo xor --seed -1",
            &["--seed"],
        ),
        a(
            6,
            "demo_xor_seed_beyond_u32",
            "demo xor --seed 99999999999",
            &["--seed"],
        ),
        a(
            6,
            "demo_xor_iterations_negative",
            "demo xor --iterations -1",
            &["--iterations"],
        ),
        a(
            6,
            "demo_xor_iterations_word",
            "demo xor --iterations many",
            &["--iterations"],
        ),
        a(
            6,
            "demo_xor_explain_with_value",
            "demo xor --explain=3",
            &["--explain"],
        ),
        a(
            6,
            "demo_vanishing_depth_negative",
            "demo vanishing --depth -1",
            &["--depth"],
        ),
        a(
            1,
            "demo_vanishing_depth_zero",
            "demo vanishing --depth 0 --steps 2",
            &["--depth"],
        ),
        a(
            1,
            "demo_vanishing_depth_huge",
            "demo vanishing --depth 1000000000000 --steps 2",
            &["--depth"],
        ),
        a(
            6,
            "demo_vanishing_activation_unknown",
            "demo vanishing --activation softsign --steps 2",
            &["--activation", "softsign"],
        ),
        a(
            6,
            "demo_vanishing_init_unknown",
            "demo vanishing --init bogus --steps 2",
            &["--init", "bogus"],
        ),
        a(
            1,
            "demo_vanishing_steps_zero",
            "demo vanishing --steps 0",
            &["--steps"],
        ),
        a(
            6,
            "demo_vanishing_steps_negative",
            "demo vanishing --steps -3",
            &["--steps"],
        ),
        a(6, "bench_unknown_workload", "bench W99", &["W99"]),
        a(1, "bench_sizes_zero", "bench W1 --sizes 0", &["--sizes"]),
        a(
            1,
            "bench_sizes_huge",
            "bench W1 --sizes 1000000000",
            &["--sizes"],
        ),
        a(
            1,
            "bench_sizes_1e18",
            "bench W1 --sizes 1000000000000000000",
            &["--sizes"],
        ),
        a(
            6,
            "bench_sizes_negative",
            "bench W1 --sizes -5",
            &["--sizes"],
        ),
        a(
            1,
            "bench_sizes_one_of_several_zero",
            "bench W1 --sizes 8,0",
            &["--sizes"],
        ),
        a(
            1,
            "bench_batches_zero",
            "bench W2 --batches 0",
            &["--batches"],
        ),
        a(
            1,
            "bench_batches_huge",
            "bench W2 --batches 1000000000000",
            &["--batches"],
        ),
        a(
            6,
            "bench_batches_word",
            "bench W2 --batches many",
            &["--batches"],
        ),
        a(
            1,
            "bench_threads_zero",
            "bench W6 --threads 0",
            &["--threads"],
        ),
        a(
            1,
            "bench_threads_huge",
            "bench W6 --threads 100000",
            &["--threads"],
        ),
        a(
            6,
            "bench_w8_data_missing",
            "bench W8 --data nowhere",
            &["nowhere"],
        ),
        c(4, "bench_data_flag_on_w6", "bench W6 --data somewhere")
            .edit(Edit::Mkdir("somewhere"))
            .words(&["--data"]),
        a(4, "bench_sizes_on_w6", "bench W6 --sizes 8", &["--sizes"]),
        a(
            4,
            "bench_batches_on_w6",
            "bench W6 --batches 8",
            &["--batches"],
        ),
        a(
            6,
            "data_fetch_unknown_dataset",
            &format!("data fetch imagenet --to out --mirror {mirror}"),
            &["imagenet", "mnist"],
        ),
        a(
            6,
            "data_fetch_empty_dataset_name",
            "data fetch \"\" --to out",
            &["dataset|mnist"],
        )
        .args_vec(&["data", "fetch", "", "--to", "out", "--mirror", mirror]),
        a(
            6,
            "data_fetch_mirror_refuses",
            &format!("data fetch mnist --to out --mirror {mirror}"),
            &["127.0.0.1:9"],
        ),
        a(
            6,
            "data_fetch_fashion_mirror_refuses",
            &format!("data fetch fashion-mnist --to out --mirror {mirror}"),
            &["127.0.0.1:9"],
        ),
        a(
            6,
            "data_fetch_mirror_not_a_url",
            "data fetch mnist --to out --mirror notaurl",
            &["--mirror|notaurl"],
        ),
        a(
            6,
            "data_fetch_mirror_ftp",
            "data fetch mnist --to out --mirror ftp://127.0.0.1:9/",
            &["ftp"],
        ),
        c(
            6,
            "data_fetch_to_is_a_file",
            &format!("data fetch mnist --to afile --mirror {mirror}"),
        )
        .file("afile", "x")
        .words(&["afile"]),
        c(
            6,
            "data_fetch_to_symlink_loop",
            &format!("data fetch mnist --to loop --mirror {mirror}"),
        )
        .loop_at("loop")
        .words(&["loop"]),
        a(6, "data_unknown_subcommand", "data get mnist", &["get"]),
    ];
    run_group("cli_args", cases);
}

/// Kind 2: two `nabla train --out SAME` started together, five times: exactly one trains, the
/// other exits 2 saying the folder is in use (or holds a run), and the folder holds one
/// coherent run: the winner's config and results, one run's metrics, no stray temporary files.
#[test]
fn catalogue_concurrent() {
    let mut failed = vec![];
    let rounds = 5;
    for round in 0..rounds {
        let dir = tmp();
        let d = dir.path();
        std::fs::write(d.join("c.toml"), train_cfg("epochs = 3\nbatch_size = 32\n")).unwrap();
        let spawn = |seed: u32| {
            Command::new(BIN)
                .args(["train", "c.toml", "--out", "same", "--plain", "--seed"])
                .arg(seed.to_string())
                .current_dir(d)
                .env_remove("NABLA_DATA")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(11), spawn(22));
        let wait = |ch: std::process::Child| {
            let o = ch.wait_with_output().unwrap();
            (
                o.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        let (ra, rb) = (wait(a), wait(b));
        let name = format!("concurrent_train_same_out_round_{round}");
        let mut why = vec![];
        let results = [(11, &ra), (22, &rb)];
        let winners: Vec<_> = results.iter().filter(|(_, r)| r.0 == 0).collect();
        let losers: Vec<_> = results.iter().filter(|(_, r)| r.0 != 0).collect();
        if winners.len() != 1 {
            why.push(format!(
                "{} of 2 succeeded (exits {} and {})",
                winners.len(),
                ra.0,
                rb.0
            ));
        }
        for (seed, r) in &losers {
            if r.0 != 2 {
                why.push(format!("seed {seed}: exit {}", r.0));
            }
            if r.2.trim_end().lines().count() != 1 {
                why.push(format!("seed {seed}: not one line on stderr"));
            }
            if !any_of(&r.2, "in use|holds a run|another|locked|already") {
                why.push(format!(
                    "seed {seed}: message does not say the folder is in use"
                ));
            }
            if r.2.contains("panicked") {
                why.push(format!("seed {seed}: panicked"));
            }
        }
        if let [(seed, w)] = winners.as_slice() {
            let run = d.join("same");
            let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap_or_default();
            if !cfg.contains(&format!("seed = {seed}")) {
                why.push(format!("config.toml is not the winner's (seed {seed})"));
            }
            let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
            if metrics.lines().count() != 3 {
                why.push(format!(
                    "metrics.jsonl has {} lines, not 3",
                    metrics.lines().count()
                ));
            }
            let last = w.1.lines().last().unwrap_or("").to_string();
            let summary = std::fs::read_to_string(run.join("summary.json")).unwrap_or_default();
            if let Some(acc) = last
                .strip_prefix("test_accuracy=")
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse::<f64>().ok())
            {
                let v: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
                let saved = v["test_accuracy"].as_f64().unwrap_or(-1.0);
                if (saved - acc).abs() > 1e-4 {
                    why.push(format!(
                        "summary.json test_accuracy {saved} is not the winner's {acc}"
                    ));
                }
            } else {
                why.push(format!("the winner's last line: {last}"));
            }
            let stray: Vec<String> = snapshot(&run)
                .keys()
                .map(|p| p.display().to_string())
                .filter(|p| {
                    let f = p.rsplit('/').next().unwrap_or(p);
                    f.contains(".tmp")
                        || f.starts_with(".nabla-tmp")
                        || f.ends_with('~')
                        || f.contains(".partial")
                })
                .collect();
            if !stray.is_empty() {
                why.push(format!("stray files: {}", stray.join(", ")));
            }
        }
        if !why.is_empty() {
            why.push(format!(
                "[exits {} / {}; stderr: {} / {}]",
                ra.0,
                rb.0,
                short(&ra.2),
                short(&rb.2)
            ));
            failed.push(format!(
                "CATALOGUE-FAIL concurrent kind=2 {name}: {}",
                why.join("; ")
            ));
        }
    }
    eprintln!(
        "CATALOGUE concurrent: {rounds} cases, {} failed",
        failed.len()
    );
    for f in &failed {
        eprintln!("{f}");
    }
    assert!(failed.is_empty(), "concurrent:\n{}", failed.join("\n"));
}
