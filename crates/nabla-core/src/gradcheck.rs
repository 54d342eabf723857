//! A numerical gradient checker anyone can point at their own code.
//!
//! [`gradcheck`] compares the gradients that backpropagation computes with central finite
//! differences in f64, with PyTorch's default tolerances. The function's output may have any
//! shape: it is reduced to a scalar with fixed pseudo-random weights (so every output element
//! is checked), as PyTorch's `fast_mode` does.

use crate::dtype::DType;
use crate::layout::fmt_shape;
use crate::rng::Mt19937;
use crate::tensor::Tensor;
use crate::var::Var;
use crate::{Error, Result};

/// Tolerances and step of [`gradcheck`]; the defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numerical value).
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

impl GradcheckOptions {
    /// Sets the step.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the absolute tolerance.
    pub fn with_atol(mut self, atol: f64) -> Self {
        self.atol = atol;
        self
    }
    /// Sets the relative tolerance.
    pub fn with_rtol(mut self, rtol: f64) -> Self {
        self.rtol = rtol;
        self
    }
}

/// One gradient entry that disagrees.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Which input (position in the slice passed to [`gradcheck`]).
    pub input: usize,
    /// The element's multi-index in that input.
    pub index: Vec<usize>,
    /// The gradient from backpropagation.
    pub analytical: f64,
    /// The central-difference estimate.
    pub numerical: f64,
}

/// What [`gradcheck`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Every element that disagreed (empty when the check passed).
    pub mismatches: Vec<Mismatch>,
    /// The largest |analytical - numerical| over all elements, per input.
    pub max_abs_error: Vec<f64>,
    /// Number of elements checked.
    pub checked: usize,
}

impl GradcheckReport {
    /// Whether every element agreed within tolerance.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl std::fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.passed() {
            return write!(
                f,
                "gradcheck passed: {} elements, max abs error {:?}",
                self.checked, self.max_abs_error
            );
        }
        let m = &self.mismatches[0];
        write!(
            f,
            "gradcheck failed for input {} at element {:?}: analytical {} vs numerical {} ({} of {} elements disagree)",
            m.input,
            m.index,
            m.analytical,
            m.numerical,
            self.mismatches.len(),
            self.checked
        )
    }
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
    }
    idx
}

/// Checks the backpropagated gradients of `f` at `inputs` against central differences.
///
/// Every input is converted to f64. `f` receives the inputs as tensors that track gradients and
/// returns an f64 tensor of any shape. Returns a report; fails only when `f` itself fails or
/// returns another dtype. An output that does not depend on an input is checked against a
/// zero gradient.
/// ```
/// use nabla_core::{gradcheck, GradcheckOptions, Tensor};
/// let x = Tensor::from_vec(vec![0.3f64, -1.2, 2.0], &[3]).unwrap();
/// let r = gradcheck(|v| v[0].tanh(), &[x], GradcheckOptions::default()).unwrap();
/// assert!(r.passed(), "{r}");
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor], opts: GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let base: Vec<Vec<f64>> = inputs.iter().map(|t| t.to_vec_f64()).collect();
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let make = |vals: &[Vec<f64>]| -> Result<Vec<Tensor>> {
        vals.iter()
            .zip(&shapes)
            .map(|(v, s)| Tensor::from_vec(v.clone(), s))
            .collect()
    };
    // analytical
    let vars: Vec<Var> = make(&base)?.iter().map(Var::new).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let out = f(&ts)?;
    if out.dtype() != DType::F64 {
        return Err(Error::dtype(
            "gradcheck",
            format!("the function must return f64, got {}", out.dtype()),
        ));
    }
    let mut rng = Mt19937::new(0x5eed);
    let weights = Tensor::uniform(out.shape(), 0.5, 1.5, DType::F64, &mut rng)?;
    let scalar = |o: &Tensor| -> Result<Tensor> { o.mul(&weights)?.sum() };
    let loss = scalar(&out)?;
    let grads = if loss.requires_grad() {
        Some(loss.backward()?)
    } else {
        None
    };
    let mut report = GradcheckReport {
        mismatches: vec![],
        max_abs_error: vec![0.0; inputs.len()],
        checked: 0,
    };
    let mut pert = base.clone();
    for (i, var) in vars.iter().enumerate() {
        let analytical = match grads.as_ref().and_then(|g| var.grad(g)) {
            Some(g) => g.to_vec_f64(),
            None => vec![0.0; base[i].len()],
        };
        for j in 0..base[i].len() {
            // one perturbed copy, restored after each element
            pert[i][j] = base[i][j] + opts.eps;
            let fp = scalar(&f(&make(&pert)?)?)?.to_scalar()?;
            pert[i][j] = base[i][j] - opts.eps;
            let fm = scalar(&f(&make(&pert)?)?)?.to_scalar()?;
            pert[i][j] = base[i][j];
            let numerical = (fp - fm) / (2.0 * opts.eps);
            let a = analytical[j];
            let err = (a - numerical).abs();
            report.checked += 1;
            if err > report.max_abs_error[i] || err.is_nan() {
                report.max_abs_error[i] = err;
            }
            // NaN errors fail too
            let within = err <= opts.atol + opts.rtol * numerical.abs();
            if !within {
                report.mismatches.push(Mismatch {
                    input: i,
                    index: unravel(j, &shapes[i]),
                    analytical: a,
                    numerical,
                });
            }
        }
    }
    Ok(report)
}

/// Like [`gradcheck`], but an error naming the first disagreeing element when it fails.
pub fn assert_gradcheck<F>(
    f: F,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let r = gradcheck(f, inputs, opts)?;
    if r.passed() {
        Ok(r)
    } else {
        let shapes: Vec<String> = inputs.iter().map(|t| fmt_shape(t.shape())).collect();
        Err(Error::Backward(format!(
            "{r} (input shapes {})",
            shapes.join(", ")
        )))
    }
}
