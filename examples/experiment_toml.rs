//! Runs a TOML experiment config from Rust: the same thing `nabla train CONFIG` does, as a
//! library call. The config's `[data]`, `[model]` and `[train]` tables are the serde form of
//! `nabla::experiment::ExperimentConfig`; a run folder receives the resolved config, checkpoints,
//! metrics and plots.
//!
//! Run: `cargo run --release --example experiment_toml -- configs/digits-mlp.toml [--epochs N] [--out DIR] [--data DIR]`

use nabla::prelude::*;

/// Trains the config at `path` (with optional overrides) and returns the run.
pub fn run(
    path: &str,
    epochs: Option<usize>,
    out: Option<&str>,
    data: Option<&str>,
) -> Result<RunResult> {
    let mut exp = Experiment::from_toml_file(path)?;
    if let Some(e) = epochs {
        exp = exp.with_epochs(e);
    }
    if let Some(o) = out {
        exp = exp.with_out_dir(o);
    }
    if let Some(d) = data {
        exp = exp.with_data_dir(d);
    }
    println!(
        "{}: {} layers, {} epochs",
        exp.name,
        exp.config.model.layers.len(),
        exp.config.train.epochs
    );
    exp.fit()
}

#[allow(dead_code)] // tests include this file and call `run`
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let path = args
        .first()
        .map(String::as_str)
        .unwrap_or("configs/digits-mlp.toml");
    let epochs = flag("--epochs")
        .map(|e| e.parse().map_err(|_| "--epochs: a number"))
        .transpose()?;
    let run = run(path, epochs, flag("--out"), flag("--data"))?;
    println!("run saved in {}", run.dir.display());
    println!("{}", run.closing_line());
    Ok(())
}
