//! Gradient clipping: [`clip_grad_norm`] and [`clip_grad_value`], like
//! `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.
//!
//! Both rewrite the gradients in a [`GradStore`] (between `backward` and
//! [`Optimizer::step`](crate::optim::Optimizer::step)); parameters without a gradient are
//! skipped, and a parameter listed twice is counted once.
//!
//! ```
//! use nabla_core::Var;
//! use nabla_nn::clip::clip_grad_norm;
//! let w = Var::from_vec(vec![3.0f64, 4.0], &[2]).unwrap();
//! let loss = w.as_tensor().sqr().unwrap().sum().unwrap().mul_scalar(0.5).unwrap(); // grad = w
//! let mut grads = loss.backward().unwrap();
//! let norm = clip_grad_norm(&mut grads, std::slice::from_ref(&w), 1.0).unwrap();
//! assert_eq!(norm, 5.0);
//! let g = w.grad(&grads).unwrap().to_vec::<f64>().unwrap();
//! assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
//! ```

use nabla_core::{no_grad, Error, GradStore, Result, Tensor, Var};
use std::collections::HashSet;

/// The gradients of `params` in `grads`, each parameter once, with float dtypes.
fn present<'a, 'p>(
    op: &'static str,
    grads: &'a GradStore,
    params: &'p [Var],
) -> Result<Vec<(&'p Var, &'a Tensor)>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if !seen.insert(p.id()) {
            continue;
        }
        let Some(g) = p.grad(grads) else { continue };
        if !g.dtype().is_float() {
            return Err(Error::DType {
                op,
                msg: format!("gradient of parameter {i} is {}, not a float", g.dtype()),
            });
        }
        out.push((p, g));
    }
    Ok(out)
}

/// Stores the new gradients of their parameters.
fn replace(grads: &mut GradStore, new: Vec<(&Var, Tensor)>) {
    for (p, g) in new {
        grads.insert(&p.as_tensor(), g);
    }
}

/// Scales the gradients of `params` so that their total L2 norm is at most `max_norm`, and
/// returns the total norm before clipping (like `torch.nn.utils.clip_grad_norm_` with
/// `norm_type = 2`).
///
/// The norm is `sqrt(Σ ‖g‖²)` over every gradient, accumulated in f64. When
/// `coef = max_norm / (norm + 1e-6)` is below 1, every gradient is multiplied by `coef`
/// (in its own dtype); otherwise the gradients are left as they are. A non-finite norm is
/// returned as is (and NaN or zero coefficients propagate, as in PyTorch).
///
/// Fails when `max_norm` is negative or NaN, or a gradient is not a float tensor.
pub fn clip_grad_norm(grads: &mut GradStore, params: &[Var], max_norm: f64) -> Result<f64> {
    const OP: &str = "clip_grad_norm";
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::Arg {
            op: OP,
            msg: format!("max_norm {max_norm} must be >= 0"),
        });
    }
    let list = present(OP, grads, params)?;
    let mut total = 0.0;
    for (_, g) in &list {
        total += g.sum_sq_f64()?;
    }
    let norm = total.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 || coef.is_nan() {
        let _guard = no_grad();
        let scaled = list
            .iter()
            .map(|(p, g)| Ok((*p, g.detach().mul_scalar(coef)?)))
            .collect::<Result<Vec<_>>>()?;
        replace(grads, scaled);
    }
    Ok(norm)
}

/// Clamps every gradient element of `params` to `[-clip, clip]` (like
/// `torch.nn.utils.clip_grad_value_`).
///
/// Fails when `clip` is negative or NaN, or a gradient is not a float tensor.
pub fn clip_grad_value(grads: &mut GradStore, params: &[Var], clip: f64) -> Result<()> {
    const OP: &str = "clip_grad_value";
    if clip.is_nan() || clip < 0.0 {
        return Err(Error::Arg {
            op: OP,
            msg: format!("clip value {clip} must be >= 0"),
        });
    }
    let _guard = no_grad();
    let clamped = present(OP, grads, params)?
        .into_iter()
        .map(|(p, g)| Ok((p, g.detach().clamp(-clip, clip)?)))
        .collect::<Result<Vec<_>>>()?;
    replace(grads, clamped);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Var, Var, Var, GradStore) {
        let a = Var::from_vec(vec![0.0f64; 2], &[2]).unwrap();
        let b = Var::from_vec(vec![0.0f32; 3], &[3]).unwrap();
        let c = Var::from_vec(vec![0.0f64; 1], &[1]).unwrap(); // no gradient
        let mut grads = GradStore::default();
        grads.insert(
            &a.as_tensor(),
            Tensor::from_vec(vec![3.0f64, -4.0], &[2]).unwrap(),
        );
        grads.insert(
            &b.as_tensor(),
            Tensor::from_vec(vec![12.0f32, 0.0, 0.5], &[3]).unwrap(),
        );
        (a, b, c, grads)
    }

    #[test]
    fn norm_is_returned_and_gradients_scaled() {
        let (a, b, c, mut grads) = setup();
        let params = [a.clone(), b.clone(), c.clone()];
        let expect = (9.0f64 + 16.0 + 144.0 + 0.25).sqrt();
        let norm = clip_grad_norm(&mut grads, &params, 1.3).unwrap();
        assert!((norm - expect).abs() < 1e-12);
        let coef = 1.3 / (expect + 1e-6);
        let ga = a.grad(&grads).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(ga, vec![3.0 * coef, -4.0 * coef]);
        let gb = b.grad(&grads).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(gb, vec![12.0 * coef as f32, 0.0, 0.5 * coef as f32]);
        assert!(c.grad(&grads).is_none());
        // the new norm is max_norm (up to the 1e-6)
        let again = clip_grad_norm(&mut grads, &params, 100.0).unwrap();
        assert!((again - 1.3).abs() < 1e-6);
    }

    #[test]
    fn small_norm_leaves_gradients_alone() {
        let (a, b, _, mut grads) = setup();
        let before_a = a.grad(&grads).unwrap().to_vec::<f64>().unwrap();
        let norm = clip_grad_norm(&mut grads, &[a.clone(), b.clone()], 20.0).unwrap();
        assert!(norm < 20.0);
        assert_eq!(a.grad(&grads).unwrap().to_vec::<f64>().unwrap(), before_a);
        assert_eq!(
            b.grad(&grads).unwrap().to_vec::<f32>().unwrap(),
            vec![12.0, 0.0, 0.5]
        );
    }

    #[test]
    fn duplicates_counted_once_and_only_listed_params_touched() {
        let (a, b, _, mut grads) = setup();
        let norm = clip_grad_norm(&mut grads, &[a.clone(), a.clone()], 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-12);
        let ga = a.grad(&grads).unwrap().to_vec::<f64>().unwrap();
        assert!((ga[0] - 0.6).abs() < 1e-6 && (ga[1] + 0.8).abs() < 1e-6);
        // b was not listed
        assert_eq!(
            b.grad(&grads).unwrap().to_vec::<f32>().unwrap(),
            vec![12.0, 0.0, 0.5]
        );
    }

    #[test]
    fn no_gradients_give_zero_norm() {
        let (_, _, c, mut grads) = setup();
        assert_eq!(clip_grad_norm(&mut grads, &[c], 1.0).unwrap(), 0.0);
        assert_eq!(clip_grad_norm(&mut grads, &[], 1.0).unwrap(), 0.0);
    }

    #[test]
    fn value_clipping_clamps_each_element() {
        let (a, b, c, mut grads) = setup();
        clip_grad_value(&mut grads, &[a.clone(), b.clone(), c.clone()], 3.5).unwrap();
        assert_eq!(
            a.grad(&grads).unwrap().to_vec::<f64>().unwrap(),
            vec![3.0, -3.5]
        );
        assert_eq!(
            b.grad(&grads).unwrap().to_vec::<f32>().unwrap(),
            vec![3.5, 0.0, 0.5]
        );
        assert!(c.grad(&grads).is_none());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let (a, _, _, mut grads) = setup();
        let e = clip_grad_norm(&mut grads, std::slice::from_ref(&a), -1.0).unwrap_err();
        assert!(e.to_string().contains("clip_grad_norm: max_norm -1"), "{e}");
        let e = clip_grad_norm(&mut grads, std::slice::from_ref(&a), f64::NAN).unwrap_err();
        assert!(e.to_string().contains("max_norm NaN"), "{e}");
        let e = clip_grad_value(&mut grads, std::slice::from_ref(&a), -0.5).unwrap_err();
        assert!(
            e.to_string().contains("clip_grad_value: clip value -0.5"),
            "{e}"
        );
        // nothing changed
        assert_eq!(
            a.grad(&grads).unwrap().to_vec::<f64>().unwrap(),
            vec![3.0, -4.0]
        );
    }

    #[test]
    fn gradients_from_backward_are_clipped() {
        let w = Var::from_vec(vec![1.0f64, 2.0, 2.0], &[3]).unwrap();
        // d/dw sum(w^2) = 2w, norm 6
        let mut grads = w
            .as_tensor()
            .sqr()
            .unwrap()
            .sum()
            .unwrap()
            .backward()
            .unwrap();
        let norm = clip_grad_norm(&mut grads, std::slice::from_ref(&w), 3.0).unwrap();
        assert!((norm - 6.0).abs() < 1e-12);
        let g = w.grad(&grads).unwrap().to_vec::<f64>().unwrap();
        let coef = 3.0 / (6.0 + 1e-6);
        assert_eq!(g, vec![2.0 * coef, 4.0 * coef, 4.0 * coef]);
    }
}
