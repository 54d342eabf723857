//! Known answers, checked against what NumPy / PyTorch give for the same calls.

use nabla_core::{index_tensor, DType, Mt19937, Tensor, Var};

mod common;
use common::{on_threads, t};

fn ix(v: &[i64], shape: &[usize]) -> Tensor {
    index_tensor(v, shape).unwrap()
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan()),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn softmax_of_1_2_3() {
    // torch.softmax(torch.tensor([1., 2., 3.], dtype=torch.float64), 0)
    let want = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218];
    let x = t(vec![1.0, 2.0, 3.0], &[3]);
    assert_close(&x.softmax(0).unwrap().to_vec_f64(), &want, 1e-15);
    assert_close(&x.softmax(-1).unwrap().to_vec_f64(), &want, 1e-15);
    // the same in f32, and shifted by a large constant (stable)
    let x32 = x.to_dtype(DType::F32).unwrap();
    assert_close(&x32.softmax(0).unwrap().to_vec_f64(), &want, 1e-6);
    assert_close(
        &x.add_scalar(1000.0)
            .unwrap()
            .softmax(0)
            .unwrap()
            .to_vec_f64(),
        &want,
        1e-12,
    );
    // log_softmax = log(softmax)
    let ls: Vec<f64> = want.iter().map(|v| v.ln()).collect();
    assert_close(&x.log_softmax(0).unwrap().to_vec_f64(), &ls, 1e-14);
    // rows of a matrix, and along dim 0
    let m = t(vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0], &[2, 3]);
    let s = m.softmax(1).unwrap().to_vec_f64();
    assert_close(&s[3..], &want, 1e-15);
    assert_close(&m.softmax(0).unwrap().to_vec_f64(), &[0.5; 6], 1e-15);
}

#[test]
fn logsumexp_of_large_values_stays_finite() {
    let x = t(vec![1000.0, 1000.0], &[2]);
    let v = x.logsumexp(&[0], false).unwrap().to_scalar().unwrap();
    assert_close(&[v], &[1000.0 + std::f64::consts::LN_2], 1e-15);
    let x = t(vec![-1000.0, -1000.0], &[2]);
    let v = x.logsumexp(&[0], false).unwrap().to_scalar().unwrap();
    assert_close(&[v], &[-1000.0 + std::f64::consts::LN_2], 1e-15);
    // f32 too: exp(88.8) overflows f32, logsumexp must not
    let x = Tensor::from_vec(vec![100.0f32, 99.0, 98.0], &[3]).unwrap();
    let v = x.logsumexp(&[0], false).unwrap().to_scalar().unwrap();
    assert_close(&[v], &[100.40760596444439], 1e-6);
    // -inf entries count as zero weight; a row of only -inf gives -inf (PyTorch)
    let x = t(
        vec![f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY, f64::NEG_INFINITY],
        &[2, 2],
    );
    let v = x.logsumexp(&[1], false).unwrap().to_vec_f64();
    assert_eq!(v[0], 0.0);
    assert_eq!(v[1], f64::NEG_INFINITY);
    // keepdim and several dims
    let x = t(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let v = x.logsumexp(&[0, 1], true).unwrap();
    assert_eq!(v.shape(), &[1, 1]);
    assert_close(&v.to_vec_f64(), &[4.440189698561196], 1e-15);
}

#[test]
fn variance_is_unbiased_by_default() {
    let x = t(vec![1.0, 2.0, 3.0, 4.0], &[4]);
    // torch.var / torch.std (correction=1), and correction=0 (numpy's default)
    assert_close(
        &[x.var().unwrap().to_scalar().unwrap()],
        &[1.6666666666666667],
        1e-15,
    );
    assert_close(
        &[x.std().unwrap().to_scalar().unwrap()],
        &[1.2909944487358056],
        1e-15,
    );
    assert_close(
        &[x.var_dims(&[0], false, 0).unwrap().to_scalar().unwrap()],
        &[1.25],
        1e-15,
    );
    let m = t(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0], &[2, 3]);
    assert_close(
        &m.var_dims(&[1], false, 1).unwrap().to_vec_f64(),
        &[1.0, 4.0],
        1e-15,
    );
    assert_close(
        &m.var_dims(&[0], true, 1).unwrap().to_vec_f64(),
        &[4.5, 8.0, 12.5],
        1e-15,
    );
    assert_close(
        &m.std_dims(&[1], false, 1).unwrap().to_vec_f64(),
        &[1.0, 2.0],
        1e-15,
    );
    // a single element with correction 1: nan, as in PyTorch
    assert!(t(vec![3.0], &[1])
        .var()
        .unwrap()
        .to_scalar()
        .unwrap()
        .is_nan());
}

#[test]
fn mean_sum_max_min_of_small_tensors() {
    let m = t(vec![1.0, 5.0, 3.0, 4.0, 2.0, 6.0], &[2, 3]);
    assert_eq!(m.sum().unwrap().to_scalar().unwrap(), 21.0);
    assert_eq!(m.mean().unwrap().to_scalar().unwrap(), 3.5);
    assert_eq!(
        m.sum_dims(&[0], false).unwrap().to_vec_f64(),
        vec![5.0, 7.0, 9.0]
    );
    assert_eq!(m.sum_dims(&[1], true).unwrap().shape(), &[2, 1]);
    assert_eq!(
        m.max_dims(&[1], false).unwrap().to_vec_f64(),
        vec![5.0, 6.0]
    );
    assert_eq!(
        m.min_dims(&[0], false).unwrap().to_vec_f64(),
        vec![1.0, 2.0, 3.0]
    );
    assert_eq!(m.max().unwrap().to_scalar().unwrap(), 6.0);
    // sum over nothing is 0, mean over nothing is nan (PyTorch)
    let e = Tensor::zeros(&[0, 3], DType::F64);
    assert_eq!(e.sum().unwrap().to_scalar().unwrap(), 0.0);
    assert!(e.mean().unwrap().to_scalar().unwrap().is_nan());
    // max with ties shares the gradient (torch.amax)
    let v = Var::new(&t(vec![1.0, 3.0, 3.0], &[3]));
    let g = v.as_tensor().max().unwrap().backward().unwrap();
    assert_eq!(v.grad(&g).unwrap().to_vec_f64(), vec![0.0, 0.5, 0.5]);
}

#[test]
fn argmax_takes_the_first_occurrence() {
    let x = t(vec![1.0, 3.0, 3.0, 2.0], &[4]);
    assert_eq!(
        x.argmax(None, false).unwrap().to_vec::<i64>().unwrap(),
        vec![1]
    );
    let x = t(vec![2.0, 0.0, 0.0, 5.0], &[4]);
    assert_eq!(
        x.argmin(None, false).unwrap().to_vec::<i64>().unwrap(),
        vec![1]
    );
    let m = t(vec![1.0, 7.0, 7.0, 9.0, 9.0, 2.0], &[2, 3]);
    let a = m.argmax(Some(1), false).unwrap();
    assert_eq!(a.dtype(), DType::I64);
    assert_eq!(a.to_vec::<i64>().unwrap(), vec![1, 0]);
    assert_eq!(m.argmax(Some(0), true).unwrap().shape(), &[1, 3]);
    assert_eq!(
        m.argmax(Some(0), true).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 1, 0]
    );
    assert_eq!(
        m.argmax(None, false).unwrap().to_vec::<i64>().unwrap(),
        vec![3]
    );
    assert_eq!(
        m.argmin(Some(-1), false).unwrap().to_vec::<i64>().unwrap(),
        vec![0, 2]
    );
    // NaN counts as the maximum (PyTorch)
    let x = t(vec![1.0, f64::NAN, 5.0], &[3]);
    assert_eq!(
        x.argmax(None, false).unwrap().to_vec::<i64>().unwrap(),
        vec![1]
    );
    // a transposed view
    let tt = m.t().unwrap();
    assert_eq!(
        tt.argmax(Some(0), false).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 0]
    );
}

#[test]
fn gather_scatter_index_examples() {
    // torch.gather(torch.tensor([[1, 2], [3, 4]]), 1, torch.tensor([[0, 0], [1, 0]]))
    let x = t(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let g = x.gather(1, &ix(&[0, 0, 1, 0], &[2, 2])).unwrap();
    assert_eq!(g.to_vec_f64(), vec![1.0, 1.0, 4.0, 3.0]);
    // gather along dim 0
    let g = x.gather(0, &ix(&[1, 0], &[1, 2])).unwrap();
    assert_eq!(g.to_vec_f64(), vec![3.0, 2.0]);
    // torch.zeros(3, 5).scatter_add(0, index, torch.ones(2, 5))
    let idx = ix(&[0, 1, 2, 0, 0, 2, 0, 0, 1, 2], &[2, 5]);
    let s = Tensor::zeros(&[3, 5], DType::F64)
        .scatter_add(0, &idx, &Tensor::ones(&[2, 5], DType::F64))
        .unwrap();
    assert_eq!(
        s.to_vec2_f64().unwrap(),
        vec![
            vec![1.0, 1.0, 1.0, 1.0, 1.0],
            vec![0.0, 1.0, 0.0, 1.0, 0.0],
            vec![1.0, 0.0, 1.0, 0.0, 1.0]
        ]
    );
    // duplicates accumulate
    let s = Tensor::zeros(&[3], DType::F64)
        .scatter_add(0, &ix(&[1, 1, 1], &[3]), &t(vec![1.0, 2.0, 3.0], &[3]))
        .unwrap();
    assert_eq!(s.to_vec_f64(), vec![0.0, 6.0, 0.0]);
    // torch.ones(5, 3).index_add(0, torch.tensor([0, 4, 2]), torch.tensor([[1,2,3],[4,5,6],[7,8,9]]))
    let src = t((1..=9).map(|v| v as f64).collect(), &[3, 3]);
    let a = Tensor::ones(&[5, 3], DType::F64)
        .index_add(0, &ix(&[0, 4, 2], &[3]), &src)
        .unwrap();
    assert_eq!(
        a.to_vec2_f64().unwrap(),
        vec![
            vec![2.0, 3.0, 4.0],
            vec![1.0, 1.0, 1.0],
            vec![8.0, 9.0, 10.0],
            vec![1.0, 1.0, 1.0],
            vec![5.0, 6.0, 7.0]
        ]
    );
    // index_select picks rows / columns, with repeats
    let m = t((0..6).map(|v| v as f64).collect(), &[2, 3]);
    assert_eq!(
        m.index_select(1, &ix(&[2, 0, 2], &[3]))
            .unwrap()
            .to_vec_f64(),
        vec![2.0, 0.0, 2.0, 5.0, 3.0, 5.0]
    );
    assert_eq!(
        m.index_select(0, &ix(&[1], &[1])).unwrap().to_vec_f64(),
        vec![3.0, 4.0, 5.0]
    );
    assert_eq!(m.index_select(0, &ix(&[], &[0])).unwrap().shape(), &[0, 3]);
    // i64 tensors can be gathered too (indices of indices)
    let l = ix(&[10, 20, 30], &[3]);
    assert_eq!(
        l.index_select(0, &ix(&[2, 0], &[2]))
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![30, 10]
    );
}

#[test]
fn matmul_broadcasts_batch_dims() {
    let r = &mut Mt19937::new(3);
    let a = Tensor::randn(&[2, 1, 3, 4], DType::F64, r).unwrap();
    let b = Tensor::randn(&[5, 4, 2], DType::F64, r).unwrap();
    let c = a.matmul(&b).unwrap();
    assert_eq!(c.shape(), &[2, 5, 3, 2]);
    let (av, bv, cv) = (a.to_vec_f64(), b.to_vec_f64(), c.to_vec_f64());
    for i in 0..2 {
        for j in 0..5 {
            for p in 0..3 {
                for q in 0..2 {
                    let want: f64 = (0..4)
                        .map(|k| av[i * 12 + p * 4 + k] * bv[j * 8 + k * 2 + q])
                        .sum();
                    let got = cv[((i * 5 + j) * 3 + p) * 2 + q];
                    assert!(
                        (got - want).abs() < 1e-12,
                        "[{i},{j},{p},{q}]: {got} vs {want}"
                    );
                }
            }
        }
    }
    // the documented small cases
    let m = t(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]);
    assert_eq!(
        m.matmul(&t(vec![1.0, 0.0], &[2])).unwrap().to_vec_f64(),
        vec![1.0, 3.0]
    );
    assert_eq!(
        t(vec![1.0, 1.0], &[2]).matmul(&m).unwrap().to_vec_f64(),
        vec![4.0, 6.0]
    );
    let dot = t(vec![1.0, 2.0, 3.0], &[3])
        .matmul(&t(vec![4.0, 5.0, 6.0], &[3]))
        .unwrap();
    assert_eq!(dot.shape(), &[] as &[usize]);
    assert_eq!(dot.to_scalar().unwrap(), 32.0);
    // k = 0 gives zeros, an empty batch gives an empty result
    let z = Tensor::zeros(&[2, 0], DType::F32)
        .matmul(&Tensor::zeros(&[0, 3], DType::F32))
        .unwrap();
    assert_eq!(z.to_vec_f64(), vec![0.0; 6]);
    let e = Tensor::zeros(&[0, 2, 3], DType::F32)
        .matmul(&Tensor::zeros(&[3, 4], DType::F32))
        .unwrap();
    assert_eq!(e.shape(), &[0, 2, 4]);
}

#[test]
fn activations_match_pytorch() {
    let x = t(vec![-2.0, -0.5, 0.0, 1.0, 3.0], &[5]);
    let close = |got: Tensor, want: &[f64]| assert_close(&got.to_vec_f64(), want, 1e-12);
    // gelu(x), gelu(x, approximate='tanh'), silu, softplus, sigmoid, erf, as PyTorch defines them
    // (reference values computed in f64 with Python's math module)
    close(
        x.gelu().unwrap(),
        &[
            -0.04550026389635842,
            -0.15426876936299344,
            0.0,
            0.8413447460685429,
            2.99595030590511,
        ],
    );
    close(
        x.gelu_tanh().unwrap(),
        &[
            -0.04540230591222494,
            -0.15428599017485606,
            0.0,
            0.8411919906082768,
            2.996362607918227,
        ],
    );
    close(
        x.silu().unwrap(),
        &[
            -0.2384058440442351,
            -0.1887703343990727,
            0.0,
            0.7310585786300049,
            2.8577223804673,
        ],
    );
    close(
        x.softplus().unwrap(),
        &[
            0.12692801104297263,
            0.47407698418010663,
            std::f64::consts::LN_2,
            1.3132616875182228,
            3.048587351573742,
        ],
    );
    close(
        x.sigmoid().unwrap(),
        &[
            0.11920292202211755,
            0.3775406687981454,
            0.5,
            0.7310585786300049,
            0.9525741268224334,
        ],
    );
    close(
        x.erf().unwrap(),
        &[
            -0.9953222650189527,
            -0.5204998778130465,
            0.0,
            0.8427007929497149,
            0.9999779095030014,
        ],
    );
    close(x.relu().unwrap(), &[0.0, 0.0, 0.0, 1.0, 3.0]);
    close(x.leaky_relu(0.01).unwrap(), &[-0.02, -0.005, 0.0, 1.0, 3.0]);
    close(x.clamp(-1.0, 2.0).unwrap(), &[-1.0, -0.5, 0.0, 1.0, 2.0]);
    // extreme inputs stay finite
    let big = t(vec![-1000.0, 1000.0], &[2]);
    assert_eq!(big.sigmoid().unwrap().to_vec_f64(), vec![0.0, 1.0]);
    assert_eq!(big.softplus().unwrap().to_vec_f64(), vec![0.0, 1000.0]);
    let big32 = big.to_dtype(DType::F32).unwrap();
    assert_eq!(big32.sigmoid().unwrap().to_vec_f64(), vec![0.0, 1.0]);
    assert_eq!(big32.softplus().unwrap().to_vec_f64(), vec![0.0, 1000.0]);
    // maximum/minimum propagate NaN (torch.maximum)
    let a = t(vec![f64::NAN, 1.0], &[2]);
    let b = t(vec![0.0, f64::NAN], &[2]);
    let all_nan = |r: Tensor| r.to_vec_f64().iter().all(|v| v.is_nan());
    assert!(all_nan(a.maximum(&b).unwrap()));
    assert!(all_nan(a.minimum(&b).unwrap()));
}

#[test]
fn shape_ops_small_examples() {
    let x = t((0..6).map(|v| v as f64).collect(), &[2, 3]);
    // torch.nn.functional.pad(x, (0, 1, 1, 0), value=9)  (last dim (0,1), first dim (1,0))
    let p = x.pad(&[(1, 0), (0, 1)], 9.0).unwrap();
    assert_eq!(
        p.to_vec2_f64().unwrap(),
        vec![
            vec![9.0, 9.0, 9.0, 9.0],
            vec![0.0, 1.0, 2.0, 9.0],
            vec![3.0, 4.0, 5.0, 9.0]
        ]
    );
    assert_eq!(
        x.narrow(1, 1, 2).unwrap().to_vec_f64(),
        vec![1.0, 2.0, 4.0, 5.0]
    );
    assert_eq!(
        x.t().unwrap().to_vec_f64(),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    assert_eq!(
        x.t().unwrap().contiguous().unwrap().to_vec_f64(),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
    assert_eq!(Tensor::cat(&[&x, &x], 1).unwrap().shape(), &[2, 6]);
    assert_eq!(Tensor::stack(&[&x, &x], 1).unwrap().shape(), &[2, 2, 3]);
    // torch.chunk(torch.arange(5), 3) -> sizes 2, 2, 1; torch.arange(6).chunk(4) -> 3 chunks of 2
    let r = Tensor::arange(0.0, 5.0, 1.0, DType::F64).unwrap();
    let sizes: Vec<usize> = r.chunk(3, 0).unwrap().iter().map(|c| c.numel()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    let r6 = Tensor::arange(0.0, 6.0, 1.0, DType::F64).unwrap();
    let sizes: Vec<usize> = r6.chunk(4, 0).unwrap().iter().map(|c| c.numel()).collect();
    assert_eq!(sizes, vec![2, 2, 2]);
    let sizes: Vec<usize> = r.split(2, 0).unwrap().iter().map(|c| c.numel()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(x.flatten_all().unwrap().shape(), &[6]);
    assert_eq!(x.unsqueeze(-1).unwrap().shape(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(0).unwrap().squeeze(0).unwrap().shape(), &[2, 3]);
    assert_eq!(
        x.squeeze(0).unwrap().shape(),
        &[2, 3],
        "squeezing a dim that is not 1 is a no-op"
    );
    assert_eq!(x.reshape_infer(&[-1, 2]).unwrap().shape(), &[3, 2]);
    assert_eq!(
        x.broadcast_to(&[4, 2, 3])
            .unwrap()
            .sum()
            .unwrap()
            .to_scalar()
            .unwrap(),
        60.0
    );
    let w = Tensor::where_cond(
        &ix(&[1, 0, 1], &[3]),
        &t(vec![1.0, 2.0, 3.0], &[3]),
        &t(vec![-1.0], &[1]),
    )
    .unwrap();
    assert_eq!(w.to_vec_f64(), vec![1.0, -1.0, 3.0]);
}

/// Empty tensors: views of them, reshapes of those views and copies work (no panic, no endless
/// copying), and their views never point past their storage.
#[test]
fn empty_tensors_reshape_and_copy() {
    let z = Tensor::zeros(&[2, 0], DType::F64);
    assert!(z.is_contiguous());
    assert_eq!(z.reshape(&[0]).unwrap().shape(), &[0]);
    assert_eq!(z.t().unwrap().reshape(&[0, 5]).unwrap().shape(), &[0, 5]);
    assert_eq!(z.t().unwrap().contiguous().unwrap().shape(), &[0, 2]);
    let x = Tensor::ones(&[2, 5], DType::F64);
    let n = x.narrow(1, 2, 0).unwrap();
    assert_eq!(n.reshape(&[0]).unwrap().to_vec_f64(), Vec::<f64>::new());
    let e = Tensor::zeros(&[5, 0], DType::F64);
    let v = e.narrow(0, 3, 2).unwrap();
    assert_eq!(v.shape(), &[2, 0]);
    assert_eq!(v.to_vec_f64(), Vec::<f64>::new());
    assert_eq!(
        v.sum_dims(&[1], false).unwrap().to_vec_f64(),
        vec![0.0, 0.0]
    );
    assert_eq!(
        v.t().unwrap().sum_dims(&[0], false).unwrap().to_vec_f64(),
        vec![0.0, 0.0]
    );
    assert_eq!(v.exp().unwrap().shape(), &[2, 0]);
    assert_eq!(Tensor::cat(&[&v, &v], 0).unwrap().shape(), &[4, 0]);
    // gradients through empty pieces
    let w = Var::new(&Tensor::ones(&[2, 3], DType::F64));
    let pieces = w.as_tensor().split(3, 1).unwrap();
    let empty = w.as_tensor().narrow(1, 3, 0).unwrap();
    let y = Tensor::cat(&[&pieces[0], &empty], 1)
        .unwrap()
        .reshape(&[6])
        .unwrap()
        .sum()
        .unwrap();
    let g = y.backward().unwrap();
    assert_eq!(w.grad(&g).unwrap().to_vec_f64(), vec![1.0; 6]);
}

#[test]
fn rng_matches_numpy() {
    // np.random.seed(1); np.random.random(3)
    let mut r = Mt19937::new(1);
    let u = Tensor::rand(&[3], DType::F64, &mut r).unwrap();
    assert_eq!(
        u.to_vec_f64(),
        vec![
            0.417022004702574,
            0.7203244934421581,
            0.00011437481734488664
        ]
    );
    // np.random.seed(0); np.random.randn(2, 2)
    let mut r = Mt19937::new(0);
    let n = Tensor::randn(&[2, 2], DType::F64, &mut r).unwrap();
    assert_close(
        &n.to_vec_f64(),
        &[
            1.764052345967664,
            0.4001572083672233,
            0.9787379841057392,
            2.240893199201458,
        ],
        1e-15,
    );
}

/// erf to double precision over [-4, 4] (reference: Python's math.erf), including 0 and the
/// switch between the series and the continued fraction.
#[test]
fn erf_is_accurate_to_double_precision() {
    let want = [
        -0.9999999845827421,
        -0.9999998862727434,
        -0.9999992569016276,
        -0.9999956972205363,
        -0.9999779095030014,
        -0.9998993780778803,
        -0.999593047982555,
        -0.9985372834133188,
        -0.9953222650189527,
        -0.9866716712191824,
        -0.9661051464753108,
        -0.9229001282564582,
        -0.8427007929497149,
        -0.7111556336535151,
        -0.5204998778130465,
        -0.2763263901682369,
        0.0,
        0.2763263901682369,
        0.5204998778130465,
        0.7111556336535151,
        0.8427007929497149,
        0.9229001282564582,
        0.9661051464753108,
        0.9866716712191824,
        0.9953222650189527,
        0.9985372834133188,
        0.999593047982555,
        0.9998993780778803,
        0.9999779095030014,
        0.9999956972205363,
        0.9999992569016276,
        0.9999998862727434,
        0.9999999845827421,
    ];
    for (i, w) in want.iter().enumerate() {
        let x = (i as f64 - 16.0) / 4.0;
        let got = nabla_core::erf_f64(x);
        assert!((got - w).abs() <= 4.5e-16, "erf({x}) = {got}, want {w}");
    }
    let x = Tensor::from_vec(
        vec![0.0f64, -0.0, 1e-300, f64::INFINITY, f64::NEG_INFINITY],
        &[5],
    )
    .unwrap();
    let e = x.erf().unwrap().to_vec_f64();
    assert_eq!(e[..2], [0.0, 0.0]);
    assert!((e[2] - 1e-300 * std::f64::consts::FRAC_2_SQRT_PI).abs() < 1e-310);
    assert_eq!(e[3..], [1.0, -1.0]);
    assert!(nabla_core::erf_f64(f64::NAN).is_nan());
}

/// Products large enough to be split across threads (by rows when m >= n, by columns
/// otherwise), with transposed and narrowed operands, against an f64 reference.
#[test]
fn threaded_matmul_of_strided_operands_matches_a_reference() {
    let r = &mut Mt19937::new(5);
    for (m, k, n) in [(150, 80, 100), (70, 100, 200), (257, 65, 129)] {
        for dtype in [DType::F32, DType::F64] {
            // a: the transpose of a [k, m] tensor; b: columns 3.. of a [k, n + 5] tensor
            let a = Tensor::randn(&[k, m], dtype, r).unwrap().t().unwrap();
            let b = Tensor::randn(&[k, n + 5], dtype, r)
                .unwrap()
                .narrow(1, 3, n)
                .unwrap();
            let (av, bv) = (a.to_vec_f64(), b.to_vec_f64());
            for threads in [1, 2, 3] {
                let c = on_threads(threads, || a.matmul(&b).unwrap());
                assert_eq!(c.shape(), &[m, n]);
                let cv = c.to_vec_f64();
                for i in (0..m).step_by(7) {
                    for j in 0..n {
                        let want: f64 = (0..k).map(|p| av[i * k + p] * bv[p * n + j]).sum();
                        let tol = if dtype == DType::F32 { 1e-3 } else { 1e-10 };
                        assert!(
                            (cv[i * n + j] - want).abs() < tol,
                            "{dtype} [{m}, {k}] x [{k}, {n}] on {threads} threads, [{i}, {j}]: {} vs {want}",
                            cv[i * n + j]
                        );
                    }
                }
            }
        }
    }
}

/// A large right operand stored column by column (`x @ w.t()`, copied to row-major order
/// before the product), alone and in a batch of two, against an f64 reference.
#[test]
fn products_with_a_large_transposed_rhs_match_a_reference() {
    let r = &mut Mt19937::new(9);
    let (m, k, n) = (40, 1024, 520);
    for dtype in [DType::F32, DType::F64] {
        for batch in [1, 2] {
            let a = Tensor::randn(&[batch, m, k], dtype, r).unwrap();
            let b = Tensor::randn(&[batch, n, k], dtype, r)
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            let (av, bv) = (a.to_vec_f64(), b.to_vec_f64());
            for threads in [1, 2] {
                let c = on_threads(threads, || a.matmul(&b).unwrap());
                assert_eq!(c.shape(), &[batch, m, n]);
                let cv = c.to_vec_f64();
                for bi in 0..batch {
                    for i in (0..m).step_by(9) {
                        for j in (0..n).step_by(5) {
                            let want: f64 = (0..k)
                                .map(|p| av[(bi * m + i) * k + p] * bv[(bi * k + p) * n + j])
                                .sum();
                            let got = cv[(bi * m + i) * n + j];
                            let tol = if dtype == DType::F32 { 1e-3 } else { 1e-10 };
                            assert!(
                                (got - want).abs() < tol,
                                "{dtype} [{bi}, {i}, {j}] on {threads} threads: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Comparisons work in the dtype itself: i64 values beyond 2^53 (equal as f64) stay distinct.
#[test]
fn i64_comparisons_are_exact_beyond_2_pow_53() {
    let big = 1i64 << 53;
    let a = ix(&[big, big + 1, -3], &[3]);
    let b = ix(&[big + 1, big + 1, -3], &[3]);
    assert_eq!(a.eq(&b).unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 1]);
    assert_eq!(a.lt(&b).unwrap().to_vec::<i64>().unwrap(), vec![1, 0, 0]);
    assert_eq!(a.ge(&b).unwrap().to_vec::<i64>().unwrap(), vec![0, 1, 1]);
}

/// The fused batch_norm against PyTorch 2.15 (f64; the affine parameters copied from f32
/// literals, as `copy_` of a float32 tensor leaves them):
/// ```python
/// x = torch.tensor([float((i*7) % 11 - 5) for i in range(24)], dtype=torch.float64).reshape(2,3,2,2).requires_grad_()
/// c = torch.tensor([float((i*3) % 5 - 2) for i in range(24)], dtype=torch.float64).reshape(2,3,2,2)
/// bn = torch.nn.BatchNorm2d(3).double()
/// with torch.no_grad():
///     bn.weight.copy_(torch.tensor([0.5, -1.0, 2.0])); bn.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
/// y = bn(x); (y*c).sum().backward()   # y, x.grad, bn.weight.grad, bn.bias.grad
/// ```
#[test]
fn batch_norm_matches_pytorch() {
    use nabla_core::Var;
    let x = Var::new(
        &Tensor::from_vec(
            (0..24)
                .map(|i| ((i * 7) % 11 - 5) as f64)
                .collect::<Vec<_>>(),
            &[2, 3, 2, 2],
        )
        .unwrap(),
    );
    let c = Tensor::from_vec(
        (0..24)
            .map(|i| ((i * 3) % 5 - 2) as f64)
            .collect::<Vec<_>>(),
        &[2, 3, 2, 2],
    )
    .unwrap();
    let f = |v: [f32; 3]| Var::new(&Tensor::from_vec(v.map(|x| x as f64).to_vec(), &[3]).unwrap());
    let (w, b) = (f([0.5, -1.0, 2.0]), f([0.1, 0.2, -0.3]));
    let (y, mean, var) = x
        .as_tensor()
        .batch_norm_train(Some(&w.as_tensor()), Some(&b.as_tensor()), 1e-5)
        .unwrap();
    let g = y.mul(&c).unwrap().sum().unwrap().backward().unwrap();
    let close = |got: Vec<f64>, want: &[f64], what: &str| {
        assert_eq!(got.len(), want.len(), "{what}");
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-8, "{what}: {got:?} vs {want:?}");
        }
    };
    close(
        y.to_vec_f64(),
        &[
            -0.769317889,
            0.2889821516,
            -0.3157607288,
            0.7425393119,
            -0.1891036953,
            1.1943761209,
            -1.2267135575,
            0.1567662587,
            -2.1740842404,
            2.1987789594,
            -0.3000000119,
            -2.7987789832,
            0.2889821516,
            -0.3157607288,
            0.7425393119,
            0.1377964315,
            1.1943761209,
            -1.2267135575,
            0.1567662587,
            1.540246075,
            2.1987789594,
            -0.3000000119,
            -2.7987789832,
            1.5740842166,
        ],
        "y",
    );
    close(
        x.grad(&g).unwrap().to_vec_f64(),
        &[
            -0.1170610954,
            0.1339073852,
            -0.0526990952,
            0.1982693854,
            0.0174550983,
            0.6471324347,
            -0.281867927,
            0.3478094094,
            0.9884653355,
            0.1656962336,
            -1.3274763285,
            0.3028248235,
            -0.168464055,
            0.4008580651,
            -0.1041020548,
            -0.2907085352,
            -0.3904774275,
            0.4098719811,
            -0.6898004528,
            -0.0601231164,
            -1.0836932521,
            0.5466079,
            -0.9465646621,
            1.3541399501,
        ],
        "dx",
    );
    close(
        w.grad(&g).unwrap().to_vec_f64(),
        &[5.064721623, 1.0376098622, -2.4987789713],
        "dw",
    );
    close(b.grad(&g).unwrap().to_vec_f64(), &[-1.0, 0.0, 1.0], "db");
    // running statistics after one step (momentum 0.1, unbiased variance): 0.75 / 21.5 etc.
    close(
        mean.mul_scalar(0.1).unwrap().to_vec_f64(),
        &[0.075, -0.0125, -0.1],
        "mean",
    );
    let unbiased = var.mul_scalar(8.0 / 7.0).unwrap();
    close(
        unbiased
            .mul_scalar(0.1)
            .unwrap()
            .add_scalar(0.9)
            .unwrap()
            .to_vec_f64(),
        &[2.15, 1.8553571429, 2.0714285714],
        "var",
    );
}

#[test]
fn scalar_minus_tensor_is_bitwise_numpys() {
    // s - x as NumPy computes it, element by element in the tensor's dtype; signed zeros,
    // infinities, NaN and values whose difference rounds all included
    let xs = [
        0.0f64,
        -0.0,
        1.0,
        -1.0,
        0.1,
        1e-17,
        3.0e300,
        -3.0e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.7,
        1.0 + f64::EPSILON,
    ];
    for s in [1.0f64, 0.0, -0.0, 0.1, -2.5, f64::INFINITY] {
        let x = t(xs.to_vec(), &[xs.len()]);
        let got = (s - &x).unwrap().to_vec::<f64>().unwrap();
        for (g, x) in got.iter().zip(xs) {
            let want = s - x;
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "{s} - {x}: {g} against {want}"
            );
        }
        let x32 = x.to_dtype(DType::F32).unwrap();
        let got = x32.rsub_scalar(s).unwrap().to_vec::<f32>().unwrap();
        for (g, x) in got.iter().zip(xs) {
            let want = s as f32 - x as f32;
            assert!(
                g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                "f32 {s} - {x}: {g} against {want}"
            );
        }
    }
}
