//! The `nabla` command-line tool.

mod bench;
mod logger;
mod ranks;
mod run;

use clap::{Args, Parser, Subcommand};
use nabla::experiment::demo::vanishing::{self, VanishingOptions};
use nabla::experiment::demo::xor::{self, XorOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// nabla: neural networks trained by error backpropagation.
#[derive(Parser, Debug)]
#[command(name = "nabla", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Trains a model from a TOML config (without one: an MLP on the bundled 8x8 digits).
    Train(TrainCmd),
    /// Evaluates a run's newest checkpoint on its test set.
    Eval {
        /// The run folder.
        run_dir: PathBuf,
        /// A checkpoint folder (or model.safetensors file) to use instead of the newest.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Data folder (overrides the config and NABLA_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Exports a run's model as an ONNX file with a dynamic batch axis (and sequence axis
    /// for a text model).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["run_dir", "config"])))]
    Export {
        /// The run folder.
        run_dir: Option<PathBuf>,
        /// A config to export instead of a run folder, with the weights of --checkpoint (its
        /// data is read for the input shape, the standardizer and a text's vocabulary).
        #[arg(long, conflicts_with = "run_dir", requires = "checkpoint")]
        config: Option<PathBuf>,
        /// With --config: the data folder or file, as for train.
        #[arg(long, requires = "config")]
        data: Option<PathBuf>,
        /// A checkpoint folder (or model.safetensors file) to use instead of the newest.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The ONNX file to write.
        #[arg(long)]
        onnx: PathBuf,
        /// The ONNX operator set (13 to 21; layer norm and transformers need 17).
        #[arg(long, default_value_t = 18, allow_negative_numbers = true)]
        opset: i64,
    },
    /// Predicts classes for PNG images or CSV rows with a run's newest checkpoint.
    Predict {
        /// The run folder.
        run_dir: PathBuf,
        /// A checkpoint folder (or model.safetensors file) to use instead of the newest.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// PNG images (image models) or CSV files of feature rows (tabular models).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Print the raw outputs (logits) as one JSON object per input.
        #[arg(long)]
        logits: bool,
    },
    /// Samples text from a character-level language model run.
    Sample {
        /// The run folder.
        run_dir: PathBuf,
        /// The text to start from.
        #[arg(long)]
        prompt: Option<String>,
        /// Characters to generate.
        #[arg(long, default_value_t = 500)]
        length: usize,
        /// Temperature (> 0): below 1 sharper, above 1 more varied.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        temperature: f64,
        /// Sample among the K most likely characters only.
        #[arg(long)]
        top_k: Option<usize>,
        /// Seed of the sampling stream (the same seed gives the same text).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A checkpoint folder (or model.safetensors file) to use instead of the newest.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// For a transformer: recompute the whole window for every character instead of
        /// keeping the attention layers' keys and values (the same text, slower).
        #[arg(long)]
        no_cache: bool,
    },
    /// Gradient health of a run: a per-layer table (first, last, min, max) and the diagnoses.
    Health {
        /// The run folder.
        run_dir: PathBuf,
    },
    /// Writes a run's HTML report (curves, gradient health, confusion matrix, model,
    /// config) to RUN_DIR/report.html, another file, or stdout.
    Report {
        /// The run folder.
        run_dir: PathBuf,
        /// Write the report here instead (`-` for stdout).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Print the report to stdout (leaves the run folder untouched).
        #[arg(long, conflicts_with = "output")]
        stdout: bool,
    },
    /// Prints each layer's output shape and parameter count, like Keras' summary.
    Summary {
        /// The config file.
        config: PathBuf,
        /// Data folder.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Checks the model's own backpropagation in f64 on a small batch.
    Gradcheck {
        /// The config file.
        config: PathBuf,
        /// Data folder.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Downloads datasets.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
    /// Runnable demonstrations for learners.
    Demo {
        #[command(subcommand)]
        demo: Demo,
    },
    /// Runs the benchmark workloads of shared/peers/WORKLOADS.md (one JSON object per line).
    Bench(bench::BenchArgs),
}

#[derive(Args, Debug)]
struct TrainCmd {
    /// The TOML config (default: an MLP on the bundled digits).
    config: Option<PathBuf>,
    /// Output folder for checkpoints, metrics and plots (default `runs/run-<time>`).
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Override train.epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Override train.seed (not with --resume: the run keeps its seed and splits).
    #[arg(long, conflicts_with = "resume")]
    seed: Option<u64>,
    /// Threads for the kernels (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Continue the run in this folder from its newest complete checkpoint (with its saved
    /// config; --epochs may extend it).
    #[arg(long, conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// Data folder (overrides the config and NABLA_DATA).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    plain: bool,
    /// Check every op's output and gradient; stop at the first NaN or infinity, naming the op
    /// and the layer (slow).
    #[arg(long)]
    detect_anomaly: bool,
    /// Write a TensorBoard event file into the run folder (train.tensorboard).
    #[arg(long)]
    tensorboard: bool,
}

#[derive(Subcommand, Debug)]
enum DataCmd {
    /// Downloads mnist or fashion-mnist, verifying MD5 checksums.
    Fetch {
        /// mnist | fashion-mnist
        dataset: String,
        /// Destination folder.
        #[arg(long)]
        to: PathBuf,
        /// Base URL of another mirror.
        #[arg(long)]
        mirror: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum Demo {
    /// The origin program: the NumPy XOR program nabla grew from (2-2-1 sigmoid network, f64), reproduced.
    Xor(XorArgs),
    /// Vanishing gradients in a deep MLP: ‖δˡ‖ and ‖∂C/∂Wˡ‖ per layer, first step and last.
    Vanishing(VanishingArgs),
}

#[derive(Args, Debug)]
struct VanishingArgs {
    /// Hidden layers.
    #[arg(long, default_value_t = 10)]
    depth: usize,
    /// sigmoid | tanh | relu
    #[arg(long, default_value = "sigmoid")]
    activation: String,
    /// Weight initializer (default, kaiming_normal, kaiming_uniform, xavier_normal, ...).
    #[arg(long, default_value = "default")]
    init: String,
    /// Batch normalization after every hidden layer.
    #[arg(long)]
    batch_norm: bool,
    /// Training steps.
    #[arg(long, default_value_t = 200)]
    steps: usize,
}

#[derive(Args, Debug)]
struct XorArgs {
    /// Seed of the NumPy-compatible generator (`np.random.seed`).
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// Number of full-batch updates.
    #[arg(long, default_value_t = 10_000)]
    iterations: usize,
    /// Take the gradients from autograd instead of the hand-written δ recursions.
    #[arg(long)]
    autograd: bool,
    /// Add the biases of the origin document's formulas (z = W a + b), so the network learns XOR.
    #[arg(long)]
    bias: bool,
    /// Print each layer's z, a, δ and ∂C/∂W for the first iteration.
    #[arg(long)]
    explain: bool,
}

fn run(cli: Cli) -> Result<(), (u8, String)> {
    match cli.command {
        Command::Demo { demo: Demo::Xor(a) } => {
            let opts = XorOptions {
                seed: a.seed,
                iterations: a.iterations,
                autograd: a.autograd,
                bias: a.bias,
                explain: a.explain,
            };
            let r = xor::run(&opts).map_err(|e| (1, e.to_string()))?;
            if a.explain {
                print!("{}", r.explanation);
            }
            print!("{}", r.report());
            Ok(())
        }
        Command::Demo {
            demo: Demo::Vanishing(a),
        } => {
            let o = VanishingOptions {
                depth: a.depth,
                activation: a.activation,
                init: a.init,
                batch_norm: a.batch_norm,
                steps: a.steps,
            };
            let text = vanishing::run(&o).map_err(|e| {
                let code = if e.is_bad_input() { 2 } else { 1 };
                (code, e.to_string())
            })?;
            println!("{text}");
            Ok(())
        }
        Command::Bench(b) => {
            // under mpirun: W2, W3, W4, W8 data-parallel (or a refusal without the feature)
            let ranks = ranks::Ranks::start()?;
            let threads = ranks.default_threads();
            let r = bench::run(&b, ranks.comm.clone(), threads);
            ranks.finish(r.map_err(|(c, m)| (c, m, c == 2)))
        }
        Command::Train(t) => {
            // under mpirun: the MPI world, or a refusal without the mpi feature
            let ranks = ranks::Ranks::start()?;
            if let Some(n) = t.threads.or(ranks.default_threads()) {
                check_threads(n)?;
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .map_err(|e| (1, e.to_string()))?;
            }
            let args = run::TrainArgs {
                config: t.config,
                out: t.out,
                epochs: t.epochs,
                seed: t.seed,
                resume: t.resume,
                data: t.data,
                progress: t.plain.then_some(nabla::train::ProgressMode::Plain),
                detect_anomaly: t.detect_anomaly,
                tensorboard: t.tensorboard,
            };
            let r =
                run::train(&args, ranks.comm.clone()).map_err(|e| (e.code, e.msg, e.collective));
            ranks.finish(r)
        }
        Command::Eval {
            run_dir,
            checkpoint,
            data,
        } => run::eval(&run_dir, checkpoint.as_deref(), data.as_deref()).map_err(to_exit),
        Command::Export {
            run_dir,
            config,
            data,
            checkpoint,
            onnx,
            opset,
        } => {
            let source = match (run_dir, config) {
                (Some(r), _) => run::Source::RunDir(r),
                (None, Some(c)) => run::Source::Config(c, data),
                (None, None) => unreachable!("clap requires one of them"),
            };
            run::export(&source, checkpoint.as_deref(), &onnx, opset).map_err(to_exit)
        }
        Command::Predict {
            run_dir,
            checkpoint,
            inputs,
            logits,
        } => run::predict(&run_dir, checkpoint.as_deref(), &inputs, logits).map_err(to_exit),
        Command::Sample {
            run_dir,
            prompt,
            length,
            temperature,
            top_k,
            seed,
            checkpoint,
            no_cache,
        } => {
            let opts = nabla::experiment::SampleOptions {
                prompt,
                length,
                temperature,
                top_k,
                seed,
                context: None,
                cache: !no_cache,
            };
            run::sample(&run_dir, checkpoint.as_deref(), &opts).map_err(to_exit)
        }
        Command::Health { run_dir } => run::health(&run_dir).map_err(to_exit),
        Command::Report {
            run_dir,
            output,
            stdout,
        } => {
            let to_stdout = stdout || output.as_deref() == Some(std::path::Path::new("-"));
            run::report(
                &run_dir,
                if to_stdout { None } else { output.as_deref() },
                to_stdout,
            )
            .map_err(to_exit)
        }
        Command::Summary { config, data } => {
            run::summary(&config, data.as_deref()).map_err(to_exit)
        }
        Command::Gradcheck { config, data } => {
            match run::gradcheck(&config, data.as_deref()).map_err(to_exit)? {
                true => Ok(()),
                false => Err((
                    1,
                    "gradcheck failed: backpropagation disagrees with finite differences".into(),
                )),
            }
        }
        Command::Data {
            cmd:
                DataCmd::Fetch {
                    dataset,
                    to,
                    mirror,
                },
        } => {
            let files = nabla::data::fetch(&dataset, &to, mirror.as_deref())
                .map_err(|e| (2, e.to_string()))?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(())
        }
    }
}

/// Refuses a thread count of 0 or far beyond the machine's cores (exit 2).
fn check_threads(n: usize) -> Result<(), (u8, String)> {
    nabla::experiment::bench::check_threads(n).map_err(|e| (2, e.to_string()))
}

fn to_exit(e: run::CliError) -> (u8, String) {
    (e.code, e.msg)
}

/// clap's error as one line naming what to fix: the missing arguments listed, a negative
/// number named with its option.
fn one_line_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ")
        .to_string();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            // clap lists them on the lines after the first, before its usage block
            let missing: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
            format!("{}: {}", first.trim_end_matches(':'), missing.join(", "))
        }
        ErrorKind::UnknownArgument => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(a)) => a.clone(),
                _ => return first,
            };
            let negative = arg.starts_with('-') && arg[1..].parse::<f64>().is_ok();
            let args: Vec<String> = std::env::args().collect();
            let option = args
                .iter()
                .position(|a| *a == arg)
                .and_then(|i| i.checked_sub(1))
                .map(|i| args[i].clone())
                .filter(|o| o.starts_with("--"));
            match (negative, option) {
                (true, Some(o)) => format!("{o}: {arg} is negative; it takes a number from 0 up"),
                _ => first,
            }
        }
        _ => first,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            eprintln!("nabla: {} (see `nabla --help`)", one_line_error(&e));
            return ExitCode::from(2);
        }
    };
    logger::install();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            // (a rank other than 0 of a data-parallel run leaves the message to rank 0)
            if !msg.is_empty() {
                eprintln!("nabla: {msg}");
            }
            ExitCode::from(code)
        }
    }
}
