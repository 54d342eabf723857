//! One error type for every part of nabla.

/// nabla's one error type (defined in `nabla-core`, returned by every crate): tensor ops,
/// `Module::forward`, optimizers, data and training all return it, so `?` works across them
/// in a program's `main` and in a custom `Module`.
///
/// ```
/// use nabla::prelude::*;
/// fn run() -> nabla::Result<()> {
///     let t = Tensor::zeros(&[2, 3], DType::F32);
///     let ds = nabla::data::digits()?;
///     assert_eq!(ds.x().shape()[1], 64);
///     let _ = t.reshape(&[7])?;                    // fails: 6 elements are not 7
///     Ok(())
/// }
/// let e = run().unwrap_err();
/// assert!(e.to_string().contains("reshape"), "{e}");
/// ```
pub use nabla_core::Error;

/// `Result` with [`Error`].
pub use nabla_core::Result;
