//! The seed's NumPy XOR program (shared/seed/backpropagation.md, section 4) with nabla.
//!
//! Run: `cargo run --release --example xor_seed [-- --autograd | --bias | --explain]`
//! It prints what `python seed_xor.py` prints.

use nabla::demo::xor::{run, XorOptions};

fn main() -> nabla::core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    let opts = XorOptions {
        autograd: has("--autograd"),
        bias: has("--bias"),
        explain: has("--explain"),
        ..Default::default()
    };
    let r = run(&opts)?;
    print!("{}{}", r.explanation, r.report());
    Ok(())
}
