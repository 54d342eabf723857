//! The `nabla` command-line tool.

mod bench;

use clap::{Args, Parser, Subcommand};
use nabla::demo::xor::{self, XorOptions};
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
    /// Runnable demonstrations for learners.
    Demo {
        #[command(subcommand)]
        demo: Demo,
    },
    /// Runs the benchmark workloads of shared/peers/WORKLOADS.md (one JSON object per line).
    Bench(bench::BenchArgs),
}

#[derive(Subcommand, Debug)]
enum Demo {
    /// The seed's NumPy XOR program (2-2-1 sigmoid network, f64), reproduced.
    Xor(XorArgs),
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
    /// Add the biases of the seed's formulas (z = W a + b), so the network learns XOR.
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
        Command::Bench(b) => bench::run(&b),
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
            // one line: clap's first line, without its usage block
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("nabla: {first} (see `nabla --help`)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("nabla: {msg}");
            ExitCode::from(code)
        }
    }
}
