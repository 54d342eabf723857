//! Checking a model's own backpropagation against finite differences.

use crate::module::{ForwardCtx, Module};
use nabla_core::{DType, GradcheckOptions, Result, Tensor};

/// The result of checking one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamCheck {
    /// The parameter's name (`0.weight`).
    pub name: String,
    /// Elements checked.
    pub checked: usize,
    /// Largest |analytical − numerical|.
    pub max_abs_error: f64,
    /// Largest |analytical − numerical| / max(|numerical|, 1e-12) among checked elements.
    pub max_rel_error: f64,
    /// Whether every checked element was within `atol + rtol · |numerical|`.
    pub passed: bool,
}

/// Converts every parameter and buffer of a module to `dtype` (e.g. f64 before a check).
pub fn cast_module(m: &dyn Module, dtype: DType) -> Result<()> {
    for (_, v) in m.parameters() {
        v.cast(dtype)?;
    }
    for (_, v) in m.buffers() {
        if v.dtype().is_float() {
            v.cast(dtype)?;
        }
    }
    Ok(())
}

/// Checks the gradient of `loss(m(x))` with respect to every parameter of `m` against central
/// differences, in f64 (the module and `x` are converted), in evaluation mode (no dropout).
/// At most `max_elems` elements per parameter are checked, spread evenly.
pub fn gradcheck_module(
    m: &dyn Module,
    x: &Tensor,
    loss: &dyn Fn(&Tensor) -> Result<Tensor>,
    opts: GradcheckOptions,
    max_elems: usize,
) -> Result<Vec<ParamCheck>> {
    cast_module(m, DType::F64)?;
    let x = if x.dtype().is_float() {
        x.to_dtype(DType::F64)?
    } else {
        x.clone()
    };
    let eval = |m: &dyn Module| -> Result<Tensor> {
        let mut ctx = ForwardCtx::eval();
        loss(&m.forward(&x, &mut ctx)?)
    };
    let l = eval(m)?;
    let grads = l.backward()?;
    let mut out = Vec::new();
    for (name, var) in m.parameters() {
        let base = var.as_tensor().detach();
        let shape = base.shape().to_vec();
        let vals = base.to_vec::<f64>()?;
        let analytical = match var.grad(&grads) {
            Some(g) => g.to_vec_f64(),
            None => vec![0.0; vals.len()],
        };
        let n = vals.len();
        let step = (n / max_elems.max(1)).max(1);
        let mut pc = ParamCheck {
            name,
            checked: 0,
            max_abs_error: 0.0,
            max_rel_error: 0.0,
            passed: true,
        };
        // one perturbed copy, restored after each element
        let mut p = vals.clone();
        for j in (0..n).step_by(step).take(max_elems) {
            p[j] = vals[j] + opts.eps;
            var.set(&Tensor::from_slice(&p, &shape)?)?;
            let fp = eval(m)?.to_scalar()?;
            p[j] = vals[j] - opts.eps;
            var.set(&Tensor::from_slice(&p, &shape)?)?;
            let fm = eval(m)?.to_scalar()?;
            p[j] = vals[j];
            let num = (fp - fm) / (2.0 * opts.eps);
            let err = (analytical[j] - num).abs();
            pc.checked += 1;
            // a NaN error is kept (f64::max would drop it), as core's gradcheck does
            if err > pc.max_abs_error || err.is_nan() {
                pc.max_abs_error = err;
            }
            let rel = err / num.abs().max(1e-12);
            if rel > pc.max_rel_error || rel.is_nan() {
                pc.max_rel_error = rel;
            }
            let within = err <= opts.atol + opts.rtol * num.abs();
            if !within {
                pc.passed = false;
            }
        }
        var.set(&base)?;
        out.push(pc);
    }
    Ok(out)
}
