//! Tensor ops a PyTorch user reaches for: masked_fill, tril/triu, cumsum, rsqrt, topk,
//! split_sizes and chunk, against PyTorch 2.15's values (snippets beside them), with edges
//! and errors.

use nabla_core::{DType, Result, Tensor, Var};

mod common;
use common::t;

fn err(r: Result<impl std::fmt::Debug>) -> String {
    r.unwrap_err().to_string()
}

/// n, m, k, largest, nan, sorted, PyTorch's indices
type TopkCase = (usize, usize, usize, bool, bool, bool, &'static [i64]);

/// Indices `torch.topk` gives on slices full of ties and NaNs, for both paths of its CPU
/// kernel (`partial_sort` when 64 k <= n, else `nth_element` + `sort`):
/// ```python
/// def vals(n, m, s, nan):
///     return [float('nan') if nan and (j*5+s) % 17 == 3 else float((j*7919 + s*13) % m) for j in range(n)]
/// for (n, m, k) in [(8, 3, 4), (20, 4, 7), (40, 5, 12), (200, 3, 3), (1000, 7, 10), (33, 2, 33)]:
///     for largest in [True, False]:
///         for nan in [False, True]:
///             for sorted_ in [True, False]:
///                 x = torch.tensor(vals(n, m, n + k, nan), dtype=torch.float64)
///                 print(x.topk(k, largest=largest, sorted=sorted_).indices.tolist())
/// ```
#[rustfmt::skip]
const TOPK_TIES: &[TopkCase] = &[
    (8, 3, 4, true, false, true, &[4, 7, 1, 5]),
    (8, 3, 4, true, false, false, &[4, 7, 1, 5]),
    (8, 3, 4, true, true, true, &[5, 4, 7, 1]),
    (8, 3, 4, true, true, false, &[4, 7, 5, 1]),
    (8, 3, 4, false, false, true, &[3, 6, 0, 2]),
    (8, 3, 4, false, false, false, &[3, 6, 0, 2]),
    (8, 3, 4, false, true, true, &[3, 6, 0, 2]),
    (8, 3, 4, false, true, false, &[3, 6, 0, 2]),
    (20, 4, 7, true, false, true, &[16, 12, 0, 8, 4, 13, 9]),
    (20, 4, 7, true, false, false, &[16, 12, 0, 8, 4, 13, 9]),
    (20, 4, 7, true, true, true, &[2, 19, 0, 12, 8, 16, 4]),
    (20, 4, 7, true, true, false, &[0, 12, 2, 19, 8, 16, 4]),
    (20, 4, 7, false, false, true, &[15, 7, 11, 19, 3, 14, 18]),
    (20, 4, 7, false, false, false, &[15, 7, 11, 14, 19, 3, 18]),
    (20, 4, 7, false, true, true, &[11, 3, 15, 7, 14, 10, 18]),
    (20, 4, 7, false, true, false, &[14, 10, 11, 3, 15, 7, 18]),
    (40, 5, 12, true, false, true, &[37, 12, 32, 17, 7, 27, 2, 22, 28, 33, 18, 23]),
    (40, 5, 12, true, false, false, &[37, 12, 32, 17, 7, 28, 27, 33, 2, 22, 18, 23]),
    (40, 5, 12, true, true, true, &[31, 14, 27, 22, 17, 32, 12, 7, 37, 2, 8, 3]),
    (40, 5, 12, true, true, false, &[27, 22, 31, 17, 32, 14, 12, 7, 37, 2, 8, 3]),
    (40, 5, 12, false, false, true, &[1, 16, 11, 21, 26, 6, 31, 36, 15, 30, 20, 0]),
    (40, 5, 12, false, false, false, &[1, 16, 11, 21, 26, 6, 15, 31, 30, 20, 36, 0]),
    (40, 5, 12, false, true, true, &[1, 11, 16, 21, 6, 36, 26, 0, 15, 20, 35, 25]),
    (40, 5, 12, false, true, false, &[1, 11, 16, 21, 6, 0, 15, 20, 36, 26, 35, 25]),
    (200, 3, 3, true, false, true, &[6, 3, 0]),
    (200, 3, 3, true, false, false, &[6, 3, 0]),
    (200, 3, 3, true, true, true, &[45, 28, 11]),
    (200, 3, 3, true, true, false, &[45, 28, 11]),
    (200, 3, 3, false, false, true, &[8, 5, 2]),
    (200, 3, 3, false, false, false, &[8, 5, 2]),
    (200, 3, 3, false, true, true, &[8, 5, 2]),
    (200, 3, 3, false, true, false, &[8, 5, 2]),
    (1000, 7, 10, true, false, true, &[25, 4, 39, 46, 11, 53, 60, 67, 32, 18]),
    (1000, 7, 10, true, false, false, &[25, 4, 39, 46, 11, 53, 60, 67, 32, 18]),
    (1000, 7, 10, true, true, true, &[91, 23, 40, 108, 57, 125, 142, 159, 74, 6]),
    (1000, 7, 10, true, true, false, &[91, 23, 40, 108, 57, 125, 142, 159, 74, 6]),
    (1000, 7, 10, false, false, true, &[8, 1, 29, 15, 36, 50, 57, 64, 43, 22]),
    (1000, 7, 10, false, false, false, &[8, 1, 29, 15, 36, 50, 57, 64, 43, 22]),
    (1000, 7, 10, false, true, true, &[8, 1, 29, 15, 36, 50, 64, 71, 43, 22]),
    (1000, 7, 10, false, true, false, &[8, 1, 29, 15, 36, 50, 64, 71, 43, 22]),
    (33, 2, 33, true, false, true, &[1, 21, 23, 19, 17, 25, 15, 13, 27, 11, 9, 29, 7, 5, 31, 3, 22, 28, 18, 20, 16, 10, 8, 6, 4, 2, 12, 32, 0, 24, 30, 26, 14]),
    (33, 2, 33, true, false, false, &[32, 1, 0, 3, 31, 5, 30, 7, 29, 9, 28, 11, 27, 13, 26, 15, 25, 17, 24, 19, 23, 21, 12, 2, 4, 6, 8, 10, 16, 20, 18, 22, 14]),
    (33, 2, 33, true, true, true, &[1, 18, 25, 23, 21, 19, 17, 15, 13, 27, 11, 9, 3, 31, 5, 29, 7, 10, 22, 16, 20, 14, 8, 6, 4, 2, 0, 28, 24, 26, 30, 32, 12]),
    (33, 2, 33, true, true, false, &[32, 1, 0, 3, 31, 5, 30, 7, 29, 9, 28, 11, 27, 13, 26, 15, 25, 17, 18, 19, 24, 21, 23, 10, 2, 4, 6, 8, 14, 20, 16, 22, 12]),
    (33, 2, 33, false, false, true, &[32, 6, 4, 8, 2, 10, 12, 14, 0, 20, 22, 18, 24, 26, 28, 30, 16, 5, 23, 21, 17, 9, 15, 13, 19, 25, 27, 3, 29, 31, 11, 1, 7]),
    (33, 2, 33, false, false, false, &[16, 32, 30, 28, 26, 24, 22, 20, 18, 0, 14, 12, 1, 11, 10, 31, 2, 29, 8, 3, 27, 4, 6, 25, 19, 13, 15, 9, 17, 21, 23, 5, 7]),
    (33, 2, 33, false, true, true, &[32, 16, 8, 6, 4, 2, 10, 12, 14, 0, 20, 22, 24, 26, 28, 30, 5, 21, 9, 7, 19, 15, 23, 25, 13, 27, 3, 29, 11, 31, 17, 1, 18]),
    (33, 2, 33, false, true, false, &[16, 32, 30, 28, 26, 24, 22, 20, 0, 14, 12, 10, 2, 4, 6, 8, 17, 31, 11, 29, 3, 27, 13, 25, 23, 15, 19, 7, 1, 9, 21, 5, 18]),
];

#[test]
fn topk_breaks_ties_and_orders_nan_as_pytorch() {
    for &(n, m, k, largest, nan, sorted, want) in TOPK_TIES {
        let s = n + k;
        let v: Vec<f64> = (0..n)
            .map(|j| {
                if nan && (j * 5 + s) % 17 == 3 {
                    f64::NAN
                } else {
                    ((j * 7919 + s * 13) % m) as f64
                }
            })
            .collect();
        for dtype in [DType::F64, DType::F32] {
            let x = t(v.clone(), &[n]).to_dtype(dtype).unwrap();
            let (vals, idx) = x.topk(k, 0, largest, sorted).unwrap();
            let case = format!("n {n} m {m} k {k} largest {largest} nan {nan} sorted {sorted}");
            assert_eq!(idx.to_vec::<i64>().unwrap(), want, "{case}");
            let got = vals.to_vec_f64();
            for (g, &i) in got.iter().zip(want) {
                assert!(
                    g.to_bits() == v[i as usize].to_bits()
                        || (g.is_nan() && v[i as usize].is_nan())
                );
            }
        }
    }
}

/// ```python
/// x = torch.tensor([[3., 1., 2.], [0., 5., 5.]], requires_grad=True)
/// v, i = x.topk(2, dim=1); (v * torch.tensor([[1., 2.], [3., 4.]])).sum().backward()
/// # v [[3, 2], [5, 5]], i [[0, 2], [1, 2]], x.grad [[1, 0, 2], [0, 3, 4]]
/// x.topk(1, dim=0, largest=False)   # [[0, 1, 2]], [[1, 0, 0]]
/// ```
#[test]
fn topk_values_indices_and_gradient() {
    let x = Var::new(&t(vec![3.0, 1.0, 2.0, 0.0, 5.0, 5.0], &[2, 3]));
    let (v, i) = x.as_tensor().topk(2, -1, true, true).unwrap();
    assert_eq!(v.to_vec_f64(), [3.0, 2.0, 5.0, 5.0]);
    assert_eq!(i.to_vec::<i64>().unwrap(), [0, 2, 1, 2]);
    assert_eq!(i.dtype(), DType::I64);
    let g = v
        .mul(&t(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]))
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        x.grad(&g).unwrap().to_vec_f64(),
        [1.0, 0.0, 2.0, 0.0, 3.0, 4.0]
    );
    let (v, i) = x.as_tensor().topk(1, 0, false, true).unwrap();
    assert_eq!(
        (v.shape(), v.to_vec_f64()),
        (&[1usize, 3][..], vec![0.0, 1.0, 2.0])
    );
    assert_eq!(i.to_vec::<i64>().unwrap(), [1, 0, 0]);
    // i64 input
    let xi = Tensor::from_vec(vec![4i64, -2, 9, 9], &[4]).unwrap();
    let (v, i) = xi.topk(3, 0, true, true).unwrap();
    assert_eq!(v.to_vec::<i64>().unwrap(), [9, 9, 4]);
    assert_eq!(i.to_vec::<i64>().unwrap(), [2, 3, 0]);
}

#[test]
fn topk_edges_and_errors() {
    let x = t(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let (v, i) = x.topk(0, 1, true, true).unwrap();
    assert_eq!((v.shape(), i.shape()), (&[2usize, 0][..], &[2usize, 0][..]));
    let (v, _) = t(vec![], &[0, 3]).topk(2, 1, true, true).unwrap();
    assert_eq!(v.shape(), &[0, 2]);
    // PyTorch: a 0-d tensor is its own top entry
    let (v, i) = t(vec![5.0], &[]).topk(1, -1, true, true).unwrap();
    assert_eq!(
        (v.to_vec_f64(), i.to_vec::<i64>().unwrap()),
        (vec![5.0], vec![0])
    );
    let e = err(x.topk(4, 1, true, true));
    assert!(
        e.contains("topk") && e.contains("k (4)") && e.contains("size 3"),
        "{e}"
    );
    let e = err(x.topk(1, 2, true, true));
    assert!(e.contains("topk"), "{e}");
    assert!(err(t(vec![1.0], &[]).topk(2, 0, true, true)).contains("k (2)"));
}

/// ```python
/// x = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) + 1
/// for d in [-5, -1, 0, 2, 5]: print(x.tril(d).flatten().tolist(), x.triu(d).flatten().tolist())
/// ```
#[rustfmt::skip]
#[test]
fn tril_triu_match_pytorch() {
    let want: &[(i64, [f64; 24], [f64; 24])] = &[
        (-5, [0.0; 24], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0]),
        (-1, [0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 9.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 17.0, 0.0, 0.0, 0.0, 21.0, 22.0, 0.0, 0.0],
             [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 0.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 0.0, 22.0, 23.0, 24.0]),
        (0, [1.0, 0.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0, 9.0, 10.0, 11.0, 0.0, 13.0, 0.0, 0.0, 0.0, 17.0, 18.0, 0.0, 0.0, 21.0, 22.0, 23.0, 0.0],
            [1.0, 2.0, 3.0, 4.0, 0.0, 6.0, 7.0, 8.0, 0.0, 0.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 0.0, 18.0, 19.0, 20.0, 0.0, 0.0, 23.0, 24.0]),
        (2, [1.0, 2.0, 3.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 0.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0],
            [0.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 15.0, 16.0, 0.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 0.0]),
        (5, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0], [0.0; 24]),
    ];
    let x = Tensor::arange(1.0, 25.0, 1.0, DType::F64).unwrap().reshape(&[2, 3, 4]).unwrap();
    for (d, lo, up) in want {
        assert_eq!(x.tril(*d).unwrap().to_vec_f64(), lo, "tril {d}");
        assert_eq!(x.triu(*d).unwrap().to_vec_f64(), up, "triu {d}");
        // a transposed view and i64 give the same triangles
        let xt = x.transpose(1, 2).unwrap().contiguous().unwrap().transpose(1, 2).unwrap();
        assert_eq!(xt.tril(*d).unwrap().to_vec_f64(), lo, "tril {d} of a view");
        let xi = x.to_dtype(DType::I64).unwrap();
        assert_eq!(xi.triu(*d).unwrap().to_vec_f64(), up, "triu {d} of i64");
    }
    assert_eq!(Tensor::zeros(&[2, 0, 3], DType::F32).tril(0).unwrap().shape(), &[2, 0, 3]);
    let e = err(Tensor::ones(&[3], DType::F32).tril(0));
    assert!(e.contains("tril") && e.contains("at least 2 dims") && e.contains("[3]"), "{e}");
    assert!(err(Tensor::ones(&[], DType::F32).triu(0)).contains("triu"));
}

/// ```python
/// c = torch.tensor([[1., 2., 3.], [4., 5., 6.]], dtype=torch.float64, requires_grad=True)
/// y = c.cumsum(1); y.backward(torch.tensor([[1., -1., 2.], [0.5, 0., 3.]], dtype=torch.float64))
/// # y [[1, 3, 6], [4, 9, 15]], c.grad [[2, 1, 2], [3.5, 3, 3]]
/// torch.tensor([[1, 2], [3, 4]]).cumsum(0)   # [[1, 2], [4, 6]]
/// torch.tensor([1e8, 1., -1e8], dtype=torch.float32).cumsum(0)   # [1e8, 1e8, 1.] (f64 sums)
/// torch.tensor([16777216., 1., 1., 1.], dtype=torch.float32).cumsum(0)
/// # [16777216., 16777216., 16777218., 16777220.]
/// torch.tensor(3.).cumsum(0)   # 3.
/// ```
#[test]
fn cumsum_matches_pytorch() {
    let c = Var::new(&t(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let y = c.as_tensor().cumsum(-1).unwrap();
    assert_eq!(y.to_vec_f64(), [1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    let g = y
        .mul(&t(vec![1.0, -1.0, 2.0, 0.5, 0.0, 3.0], &[2, 3]))
        .unwrap()
        .sum()
        .unwrap();
    let g = g.backward().unwrap();
    assert_eq!(
        c.grad(&g).unwrap().to_vec_f64(),
        [2.0, 1.0, 2.0, 3.5, 3.0, 3.0]
    );
    let i = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2])
        .unwrap()
        .cumsum(0)
        .unwrap();
    assert_eq!(i.to_vec::<i64>().unwrap(), [1, 2, 4, 6]);
    let f = |v: Vec<f32>| {
        Tensor::from_vec(v.clone(), &[v.len()])
            .unwrap()
            .cumsum(0)
            .unwrap()
    };
    assert_eq!(
        f(vec![1e8, 1.0, -1e8]).to_vec::<f32>().unwrap(),
        [1e8, 1e8, 1.0]
    );
    let big = f(vec![16777216.0, 1.0, 1.0, 1.0]).to_vec::<f32>().unwrap();
    assert_eq!(big, [16777216.0, 16777216.0, 16777218.0, 16777220.0]);
    assert_eq!(t(vec![3.0], &[]).cumsum(0).unwrap().to_vec_f64(), [3.0]);
    assert_eq!(t(vec![], &[2, 0]).cumsum(1).unwrap().shape(), &[2, 0]);
    // along a middle dim, against sums of narrows
    let x = Tensor::arange(0.0, 24.0, 1.0, DType::F64)
        .unwrap()
        .reshape(&[2, 3, 4])
        .unwrap();
    let y = x.cumsum(1).unwrap();
    let want = x.narrow(1, 0, 2).unwrap().sum_dims(&[1], false).unwrap();
    assert_eq!(
        y.narrow(1, 1, 1)
            .unwrap()
            .reshape(&[2, 4])
            .unwrap()
            .to_vec_f64(),
        want.to_vec_f64()
    );
    assert!(err(x.cumsum(3)).contains("cumsum"));
}

/// ```python
/// r = torch.tensor([0.25, 4., 0., 2.], dtype=torch.float64, requires_grad=True)
/// y = r.rsqrt(); y.backward(torch.ones(4, dtype=torch.float64))
/// # y [2, 0.5, inf, 0.7071067811865475], r.grad [-4, -0.0625, -inf, -0.17677669529663684]
/// torch.tensor([-1.]).rsqrt()   # nan
/// ```
#[test]
fn rsqrt_matches_pytorch() {
    let r = Var::new(&t(vec![0.25, 4.0, 0.0, 2.0], &[4]));
    let y = r.as_tensor().rsqrt().unwrap();
    assert_eq!(
        y.to_vec_f64(),
        [2.0, 0.5, f64::INFINITY, 0.7071067811865475]
    );
    let g = y.sum().unwrap().backward().unwrap();
    let want = [-4.0, -0.0625, f64::NEG_INFINITY, -0.17677669529663684];
    for (a, b) in r.grad(&g).unwrap().to_vec_f64().iter().zip(want) {
        assert!(a == &b || (a - b).abs() < 1e-15, "{a} vs {b}");
    }
    assert!(t(vec![-1.0], &[1]).rsqrt().unwrap().to_vec_f64()[0].is_nan());
    assert!(err(Tensor::ones(&[2], DType::I64).rsqrt()).contains("rsqrt"));
}

/// ```python
/// x = torch.tensor([[1., 2., 3.], [4., 5., 6.]], requires_grad=True)
/// y = x.masked_fill(torch.tensor([True, False, True]), -7.5); y.sum().backward()
/// # y [[-7.5, 2, -7.5], [-7.5, 5, -7.5]], x.grad [[0, 1, 0], [0, 1, 0]]
/// ```
#[test]
fn masked_fill_matches_pytorch() {
    let x = Var::new(&Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap());
    let m = Tensor::from_vec(vec![1i64, 0, 1], &[3]).unwrap();
    let y = x.as_tensor().masked_fill(&m, -7.5).unwrap();
    assert_eq!(
        y.to_vec::<f32>().unwrap(),
        [-7.5, 2.0, -7.5, -7.5, 5.0, -7.5]
    );
    let g = y.sum().unwrap().backward().unwrap();
    assert_eq!(
        x.grad(&g).unwrap().to_vec::<f32>().unwrap(),
        [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    );
    // a mask from a comparison (float 0/1) works too; the result keeps self's dtype and shape
    let y = x
        .as_tensor()
        .masked_fill(&x.as_tensor().gt_scalar(3.0).unwrap(), 0.0)
        .unwrap();
    assert_eq!(y.to_vec::<f32>().unwrap(), [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
    // the mask must broadcast to self's shape, not beyond it
    let e = err(t(vec![1.0, 2.0], &[2]).masked_fill(&Tensor::ones(&[3, 2], DType::I64), 0.0));
    assert!(
        e.contains("masked_fill") && e.contains("[3, 2]") && e.contains("[2]"),
        "{e}"
    );
    assert!(err(x
        .as_tensor()
        .masked_fill(&Tensor::ones(&[4], DType::I64), 0.0))
    .contains("mask"));
}

/// ```python
/// [t.shape for t in torch.arange(5).chunk(3)]    # [2, 2, 1]
/// [t.shape for t in torch.arange(6).chunk(4)]    # [2, 2, 2]
/// [t.shape for t in torch.empty(0).chunk(3)]     # [0, 0, 0]
/// [t.shape for t in torch.empty(0).split(2)]     # [0]
/// [t.shape for t in torch.empty(0, 2).split([0, 0])]   # [0, 2], [0, 2]
/// ```
#[test]
fn split_sizes_and_chunk_match_pytorch() {
    let lens = |v: Vec<Tensor>, d: usize| v.iter().map(|t| t.shape()[d]).collect::<Vec<_>>();
    let a = |n: usize| Tensor::arange(0.0, n as f64, 1.0, DType::F64).unwrap();
    assert_eq!(lens(a(5).chunk(3, 0).unwrap(), 0), [2, 2, 1]);
    assert_eq!(lens(a(6).chunk(4, 0).unwrap(), 0), [2, 2, 2]);
    assert_eq!(lens(a(0).chunk(3, 0).unwrap(), 0), [0, 0, 0]);
    assert_eq!(lens(a(0).split(2, 0).unwrap(), 0), [0]);
    assert_eq!(
        lens(
            Tensor::zeros(&[0, 2], DType::F32)
                .split_sizes(&[0, 0], 0)
                .unwrap(),
            0
        ),
        [0, 0]
    );
    let x = Var::new(
        &Tensor::arange(0.0, 12.0, 1.0, DType::F64)
            .unwrap()
            .reshape(&[2, 6])
            .unwrap(),
    );
    let p = x.as_tensor().split_sizes(&[1, 0, 3, 2], -1).unwrap();
    assert_eq!(lens(p.clone(), 1), [1, 0, 3, 2]);
    assert_eq!(p[2].to_vec_f64(), [1.0, 2.0, 3.0, 7.0, 8.0, 9.0]);
    let g = p[2]
        .mul_scalar(2.0)
        .unwrap()
        .sum()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        x.grad(&g).unwrap().to_vec_f64(),
        [0., 2., 2., 2., 0., 0., 0., 2., 2., 2., 0., 0.]
    );
    let e = err(x.as_tensor().split_sizes(&[2, 3], 1));
    assert!(
        e.contains("split_sizes") && e.contains("[2, 3]") && e.contains("6"),
        "{e}"
    );
    assert!(err(x.as_tensor().split_sizes(&[usize::MAX, 7], 1)).contains("add up"));
    assert!(err(x.as_tensor().split_sizes(&[2], 2)).contains("split_sizes"));
    assert!(err(x.as_tensor().chunk(0, 0)).contains("chunk"));
}
