//! Layers: shapes, PyTorch naming, gradients checked in f64, and losses against known values.

use nabla_core::{DType, GradcheckOptions, Mt19937, Tensor, Var};
use nabla_nn::loss::{self, CrossEntropyOptions, KlReduction, Reduction};
use nabla_nn::*;

mod common;
use common::train_forward;

fn rng() -> Mt19937 {
    Mt19937::new(42)
}

fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

fn mlp(r: &mut Mt19937) -> Sequential {
    Sequential::new()
        .append(Linear::new(6, 5, r).unwrap())
        .append(Activation::Tanh)
        .append(LayerNorm::new(&[5]))
        .append(Linear::new(5, 4, r).unwrap())
        .append(BatchNorm1d::new(4))
        .append(Activation::GELU)
        .append(Dropout::new(0.5).unwrap())
        .append(Linear::new(4, 3, r).unwrap())
}

#[test]
fn sequential_names_parameters_like_pytorch() {
    let mut r = rng();
    let m = mlp(&mut r);
    let names: Vec<String> = m.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias", "4.weight", "4.bias",
            "7.weight", "7.bias"
        ]
    );
    let bufs: Vec<String> = m.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        bufs,
        ["4.running_mean", "4.running_var", "4.num_batches_tracked"]
    );
    assert_eq!(m.parameters()[0].1.shape(), vec![5, 6]);
    assert_eq!(
        parameter_count(&m),
        6 * 5 + 5 + 10 + 5 * 4 + 4 + 8 + 4 * 3 + 3
    );
    assert_eq!(m.output_shape(&[7, 6]).unwrap(), vec![7, 3]);
    let e = m.output_shape(&[7, 5]).unwrap_err().to_string();
    assert!(
        e.contains("layer 0 (Linear)") && e.contains("[7, 5]"),
        "{e}"
    );
}

#[test]
fn every_layer_backpropagates_correctly_in_f64() {
    let mut r = rng();
    let m = mlp(&mut r);
    let x = Tensor::randn(&[8, 6], DType::F64, &mut r).unwrap();
    let target = Tensor::from_vec(vec![0i64, 1, 2, 0, 1, 2, 0, 1], &[8]).unwrap();
    // run a training forward first so BatchNorm has running statistics
    {
        let mut g = Mt19937::new(1);
        let mut ctx = ForwardCtx::train(&mut g);
        cast_module(&m, DType::F64).unwrap();
        m.forward(&x, &mut ctx).unwrap();
    }
    let loss = |y: &Tensor| loss::cross_entropy(y, &target, CrossEntropyOptions::default());
    let report = gradcheck_module(&m, &x, &loss, GradcheckOptions::default(), 40).unwrap();
    assert_eq!(report.len(), 10);
    for p in &report {
        assert!(p.passed && p.checked > 0, "{p:?}");
    }
}

#[test]
fn embedding_and_batchnorm_training_gradients() {
    let mut r = rng();
    let e = Embedding::new(10, 3, &mut r).unwrap();
    let idx = Tensor::from_vec(vec![1i64, 4, 4, 9], &[2, 2]).unwrap();
    let out = e.forward(&idx, &mut ForwardCtx::eval()).unwrap();
    assert_eq!(out.shape(), &[2, 2, 3]);
    let grads = out.sum().unwrap().backward().unwrap();
    let gw = e.weight.grad(&grads).unwrap().to_vec_f64();
    // row 4 is used twice, rows 1 and 9 once, the rest never
    assert_eq!(&gw[12..15], &[2.0, 2.0, 2.0]);
    assert_eq!(&gw[3..6], &[1.0, 1.0, 1.0]);
    assert_eq!(&gw[0..3], &[0.0, 0.0, 0.0]);

    // batch norm in training mode: outputs have zero mean, unit (biased) variance per channel
    let bn = BatchNorm1d::new(2);
    let x = Tensor::from_vec(vec![1.0f32, 10., 2., 20., 3., 30., 4., 40.], &[4, 2]).unwrap();
    let y = bn
        .forward(&x, &mut ForwardCtx::train(&mut Mt19937::new(0)))
        .unwrap();
    let m = y.mean_dims(&[0], false).unwrap().to_vec_f64();
    close(&m, &[0.0, 0.0], 1e-6);
    // running stats: 0.9 * 0 + 0.1 * mean; 0.9 * 1 + 0.1 * unbiased var
    close(
        &bn.running_mean.as_tensor().to_vec_f64(),
        &[0.25, 2.5],
        1e-6,
    );
    close(
        &bn.running_var.as_tensor().to_vec_f64(),
        &[0.9 + 0.1 * (5.0 / 3.0), 0.9 + 0.1 * (500.0 / 3.0)],
        1e-4,
    );
    assert_eq!(
        bn.num_batches_tracked.as_tensor().to_vec::<i64>().unwrap(),
        vec![1]
    );
}

#[test]
fn dropout_scales_and_is_reproducible() {
    let d = Dropout::new(0.25).unwrap();
    let x = Tensor::ones(&[1000], DType::F32);
    let ya = train_forward(&d, &x, 3);
    let yb = train_forward(&d, &x, 3);
    assert_eq!(ya, yb);
    assert!(ya.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    let kept = ya.iter().filter(|&&v| v > 0.0).count();
    assert!((700..800).contains(&kept), "{kept}");
    let ye = d.forward(&x, &mut ForwardCtx::eval()).unwrap().to_vec_f64();
    assert!(ye.iter().all(|&v| v == 1.0));
    assert!(Dropout::new(1.0).is_err());
}

#[test]
fn losses_match_pytorch() {
    let logits = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 1.0, -1.0, 0.5], &[2, 3]).unwrap();
    let t = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    // torch.nn.functional.cross_entropy(torch.tensor([[1.,2,3],[1,-1,.5]],dtype=float64), torch.tensor([2,0]))
    let ce = loss::cross_entropy(&logits, &t, CrossEntropyOptions::default())
        .unwrap()
        .to_scalar()
        .unwrap();
    let lse1 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    let lse2 = (1f64.exp() + (-1f64).exp() + 0.5f64.exp()).ln();
    let want = ((lse1 - 3.0) + (lse2 - 1.0)) / 2.0;
    assert!((ce - want).abs() < 1e-12);
    // label smoothing 0.1: (1 - 0.1) * nll + 0.1 * mean_c(-logp)
    let o = CrossEntropyOptions {
        label_smoothing: 0.1,
        ..Default::default()
    };
    let ls = loss::cross_entropy(&logits, &t, o)
        .unwrap()
        .to_scalar()
        .unwrap();
    let smooth1 = (3.0 * lse1 - 6.0) / 3.0;
    let smooth2 = (3.0 * lse2 - 0.5) / 3.0;
    let want_ls = (0.9 * (lse1 - 3.0) + 0.1 * smooth1 + 0.9 * (lse2 - 1.0) + 0.1 * smooth2) / 2.0;
    assert!((ls - want_ls).abs() < 1e-12);
    // ignore_index: only the second sample counts
    let ti = Tensor::from_vec(vec![-100i64, 0], &[2]).unwrap();
    let ig = loss::cross_entropy(&logits, &ti, CrossEntropyOptions::default())
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((ig - (lse2 - 1.0)).abs() < 1e-12);
    // reduction none
    let none = loss::cross_entropy(
        &logits,
        &t,
        CrossEntropyOptions {
            reduction: Reduction::None,
            ..Default::default()
        },
    )
    .unwrap();
    close(&none.to_vec_f64(), &[lse1 - 3.0, lse2 - 1.0], 1e-12);
    // probabilities as target equal one-hot indices
    let p = Tensor::from_vec(vec![0.0f64, 0.0, 1.0, 1.0, 0.0, 0.0], &[2, 3]).unwrap();
    let cp = loss::cross_entropy(&logits, &p, CrossEntropyOptions::default())
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((cp - want).abs() < 1e-12);
    // out-of-range class
    let bad = Tensor::from_vec(vec![3i64, 0], &[2]).unwrap();
    let e = loss::cross_entropy(&logits, &bad, CrossEntropyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("target 3"), "{e}");

    let a = Tensor::from_vec(vec![0.5f64, -1.0, 3.0], &[3]).unwrap();
    let b = Tensor::from_vec(vec![0.0f64, 1.0, 1.0], &[3]).unwrap();
    let value = |l: nabla_core::Result<Tensor>| l.unwrap().to_scalar().unwrap();
    let mse = value(loss::mse_loss(&a, &b, Reduction::Mean));
    assert!((mse - (0.25 + 4.0 + 4.0) / 3.0).abs() < 1e-12);
    assert!((value(loss::l1_loss(&a, &b, Reduction::Sum)) - 4.5).abs() < 1e-12);
    // huber delta 1: 0.125, 1.5, 1.5
    assert!((value(loss::huber_loss(&a, &b, 1.0, Reduction::Sum)) - 3.125).abs() < 1e-12);
    // smooth l1 beta 2: 0.0625, 1.0, 1.0
    assert!((value(loss::smooth_l1_loss(&a, &b, 2.0, Reduction::Sum)) - 2.0625).abs() < 1e-12);
    // BCE with logits equals BCE of sigmoid
    let l1 = loss::binary_cross_entropy_with_logits(&a, &b, Reduction::Mean)
        .unwrap()
        .to_scalar()
        .unwrap();
    let l2 = loss::binary_cross_entropy(&a.sigmoid().unwrap(), &b, Reduction::Mean)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((l1 - l2).abs() < 1e-12);
    // KL: batchmean
    let lp = Tensor::from_vec(vec![0.25f64, 0.75], &[1, 2])
        .unwrap()
        .log()
        .unwrap();
    let q = Tensor::from_vec(vec![0.5f64, 0.5], &[1, 2]).unwrap();
    let kl = loss::kl_div(&lp, &q, KlReduction::BatchMean, false)
        .unwrap()
        .to_scalar()
        .unwrap();
    let want_kl = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
    assert!((kl - want_kl).abs() < 1e-12);
    assert!(loss::mse_loss(&a, &Tensor::zeros(&[2], DType::F64), Reduction::Mean).is_err());
}

#[test]
fn losses_gradcheck() {
    let mut r = rng();
    let x = Tensor::randn(&[4, 3], DType::F64, &mut r).unwrap();
    let y = Tensor::rand(&[4, 3], DType::F64, &mut r).unwrap();
    let t = Tensor::from_vec(vec![0i64, 2, 1, -100], &[4]).unwrap();
    let o = GradcheckOptions::default();
    type LossCase<'a> = Box<dyn Fn(&[Tensor]) -> nabla_core::Result<Tensor> + 'a>;
    let fs: Vec<LossCase> = vec![
        Box::new(|v| loss::mse_loss(&v[0], &y, Reduction::Mean)),
        Box::new(|v| loss::huber_loss(&v[0], &y, 0.5, Reduction::Mean)),
        Box::new(|v| loss::smooth_l1_loss(&v[0], &y, 0.5, Reduction::Sum)),
        Box::new(|v| loss::binary_cross_entropy_with_logits(&v[0], &y, Reduction::Mean)),
        Box::new(|v| loss::binary_cross_entropy(&v[0].sigmoid()?, &y, Reduction::Mean)),
        Box::new(|v| {
            loss::cross_entropy(
                &v[0],
                &t,
                CrossEntropyOptions {
                    label_smoothing: 0.2,
                    ..Default::default()
                },
            )
        }),
        Box::new(|v| loss::cross_entropy(&v[0], &y, CrossEntropyOptions::default())),
        Box::new(|v| {
            loss::kl_div(
                &v[0].log_softmax(1)?,
                &y.softmax(1)?,
                KlReduction::BatchMean,
                false,
            )
        }),
    ];
    for (i, f) in fs.iter().enumerate() {
        let rep = nabla_core::gradcheck(f, std::slice::from_ref(&x), o).unwrap();
        assert!(rep.passed(), "loss {i}: {rep}");
    }
}

/// Edge points against PyTorch 2.15.0 (float64). Snippets run after
/// `import torch; import torch.nn.functional as F; D = torch.float64`.
#[test]
fn edges_match_pytorch() {
    use nabla_core::Var;
    // x = torch.tensor([0., 0., -40., 40., 25., -1000., 1000.], dtype=D, requires_grad=True)
    // y = torch.tensor([1., 0.3, 0., 1., 0., 1., 0.], dtype=D, requires_grad=True)
    // l = F.binary_cross_entropy_with_logits(x, y, reduction='none'); l.sum().backward()
    // l -> [0.6931471805599453, 0.6931471805599453, 0.0, 4.248354255291589e-18,
    //       25.000000000013888, 1000.0, 1000.0]
    // x.grad -> [-0.5, 0.2, 4.248354255291589e-18, 0.0, 0.999999999986112, -1.0, 1.0]
    // y.grad -> [-0.0, -0.0, 40.0, -40.0, -25.0, 1000.0, -1000.0]
    // (nabla had x.grad -1.0 and -0.3 at x = 0: relu and abs have gradient 0 there)
    let xv = vec![0.0f64, 0.0, -40.0, 40.0, 25.0, -1000.0, 1000.0];
    let yv = vec![1.0f64, 0.3, 0.0, 1.0, 0.0, 1.0, 0.0];
    let x = Var::new(&Tensor::from_vec(xv, &[7]).unwrap());
    let y = Var::new(&Tensor::from_vec(yv, &[7]).unwrap());
    let l = loss::binary_cross_entropy_with_logits(&x.as_tensor(), &y.as_tensor(), Reduction::None)
        .unwrap();
    // values to 1e-15 absolute: at |x| = 40 PyTorch's (1 - y) x - log_sigmoid(x) and this
    // softplus(x) - x y round a 4.2e-18 term differently (0 at x = -40 there, here at x = 40)
    close(
        &l.to_vec_f64(),
        &[
            std::f64::consts::LN_2,
            std::f64::consts::LN_2,
            0.0,
            4.248354255291589e-18,
            25.000000000013888,
            1000.0,
            1000.0,
        ],
        1e-15,
    );
    let g = l.sum().unwrap().backward().unwrap();
    let gx = x.grad(&g).unwrap().to_vec_f64();
    let want_gx = [
        -0.5,
        0.2,
        4.248354255291589e-18,
        0.0,
        0.999999999986112,
        -1.0,
        1.0,
    ];
    for (a, b) in gx.iter().zip(&want_gx) {
        assert!((a - b).abs() <= 1e-15 * b.abs().max(1e-300), "{gx:?}");
    }
    close(
        &y.grad(&g).unwrap().to_vec_f64(),
        &[-0.0, -0.0, 40.0, -40.0, -25.0, 1000.0, -1000.0],
        0.0,
    );

    // LayerNorm over a constant row stays finite and matches PyTorch:
    // w = torch.tensor([[0.5, 1.0, -2.0], [1.5, 0.25, 1.0]], dtype=D)
    // x = torch.tensor([[2., 2., 2.], [1., 2., 4.]], dtype=D, requires_grad=True)
    // y = F.layer_norm(x, (3,), eps=1e-5); (y * w).sum().backward()
    // y -> [[0.0, 0.0, 0.0], [-1.0690415314502977, -0.26726038286257453, 1.3363019143128718]]
    // x.grad -> [[210.81851067789194, 368.9323936863109, -579.7509043642028],
    //            [0.37225614687694875, -0.5583831465082879, 0.18612699963133927]]
    let ln = LayerNorm::with_options(&[3], 1e-5, false);
    let x = Var::new(&Tensor::from_vec(vec![2.0f64, 2.0, 2.0, 1.0, 2.0, 4.0], &[2, 3]).unwrap());
    let w = Tensor::from_vec(vec![0.5f64, 1.0, -2.0, 1.5, 0.25, 1.0], &[2, 3]).unwrap();
    let mut r = rng();
    let y = ln
        .forward(&x.as_tensor(), &mut ForwardCtx::train(&mut r))
        .unwrap();
    close(
        &y.to_vec_f64(),
        &[
            0.0,
            0.0,
            0.0,
            -1.0690415314502977,
            -0.26726038286257453,
            1.3363019143128718,
        ],
        1e-12,
    );
    let g = y.mul(&w).unwrap().sum().unwrap().backward().unwrap();
    let want = [
        210.81851067789194,
        368.9323936863109,
        -579.7509043642028,
        0.37225614687694875,
        -0.5583831465082879,
        0.18612699963133927,
    ];
    let gx = x.grad(&g).unwrap().to_vec_f64();
    for (a, b) in gx.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{gx:?} vs {want:?}");
    }

    // softmax over dim 0 / -1 of a 0-d input is valid (torch.tensor(2.5).softmax(0) -> 1.0)
    let s = Tensor::scalar(2.5f64);
    for a in [Activation::Softmax(0), Activation::LogSoftmax(-1)] {
        assert_eq!(a.output_shape(&[]).unwrap(), Vec::<usize>::new());
        let y = a.forward(&s, &mut ForwardCtx::eval()).unwrap();
        assert_eq!(y.shape(), &[] as &[usize]);
    }
    assert!(Activation::Softmax(1).output_shape(&[]).is_err());
}

#[test]
fn linear_has_a_bias_by_default() {
    let mut r = Mt19937::new(0);
    let l = Linear::new(3, 2, &mut r).unwrap();
    assert!(l.bias.is_some());
    assert_eq!(l.parameters().len(), 2);
    let l = Linear::without_bias(3, 2, &mut r).unwrap();
    assert!(l.bias.is_none());
    assert_eq!(l.parameters().len(), 1);
}

/// LayerNorm without a bias, as PyTorch 2.15's `nn.LayerNorm(4, bias=False)` (float64):
/// ```python
/// ln = torch.nn.LayerNorm(4, bias=False).double()   # state_dict keys: ['weight']
/// with torch.no_grad(): ln.weight.copy_(torch.tensor([0.5, -1., 2., 1.5]))
/// x = torch.tensor([[1., 2., 4., -1.], [0.5, 0., 3., 3.]], dtype=torch.float64, requires_grad=True)
/// c = torch.tensor([[1., -2., 0.5, 3.], [2., 1., -1., 0.]], dtype=torch.float64)
/// y = ln(x); (y * c).sum().backward()   # y, x.grad, ln.weight.grad
/// ```
#[test]
fn layer_norm_without_bias_matches_pytorch() {
    let ln = LayerNorm::new(&[4]).with_bias(false);
    let names: Vec<String> = ln.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight"]);
    assert!(ln.describe().ends_with("bias=False"), "{}", ln.describe());
    let w = ln.weight.as_ref().unwrap();
    assert_eq!(w.as_tensor().to_vec::<f32>().unwrap(), [1.0; 4]);
    // the test in f64: a weight of the same values as PyTorch's copy
    let mut ln64 = LayerNorm::new(&[4]).with_bias(false);
    ln64.weight = Some(Var::new(
        &Tensor::from_vec(vec![0.5f64, -1.0, 2.0, 1.5], &[4]).unwrap(),
    ));
    let x = Var::new(
        &Tensor::from_vec(vec![1.0f64, 2.0, 4.0, -1.0, 0.5, 0.0, 3.0, 3.0], &[2, 4]).unwrap(),
    );
    let c = Tensor::from_vec(vec![1.0f64, -2.0, 0.5, 3.0, 2.0, 1.0, -1.0, 0.0], &[2, 4]).unwrap();
    let mut r = rng();
    let y = ln64
        .forward(&x.as_tensor(), &mut ForwardCtx::train(&mut r))
        .unwrap();
    let g = y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    close(
        &y.to_vec_f64(),
        &[
            -0.1386748357105703,
            -0.2773496714211406,
            2.7734967142114058,
            -2.080122535658554,
            -0.4057502799912331,
            1.172167475530229,
            1.9836680355126952,
            1.4877510266345215,
        ],
        1e-12,
    );
    close(
        &x.grad(&g).unwrap().to_vec_f64(),
        &[
            -1.0027252099804447,
            0.17067619571702264,
            0.29868163574283235,
            0.5333673785205888,
            0.8444896234542644,
            -0.7037385379319083,
            -0.7917093738567036,
            0.6509582883343474,
        ],
        1e-12,
    );
    close(
        &ln64.weight.as_ref().unwrap().grad(&g).unwrap().to_vec_f64(),
        &[
            -1.900350791386073,
            -1.72686681837251,
            -0.29845983920349617,
            -4.160245071317109,
        ],
        1e-12,
    );
}
