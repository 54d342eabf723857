//! Property tests for shapes and values: broadcasting, reshape/permute round trips, reductions
//! over random axes, matmul shapes, cat/split round trips, and views against their copies, each
//! against a plain row-major reference written here.

use nabla_core::{broadcast_shapes, DType, Mt19937, Tensor};
use proptest::prelude::*;

/// A plain row-major n-d array: the reference the tensors are checked against.
#[derive(Debug, Clone)]
struct Nd {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

impl Nd {
    fn from_fn(shape: &[usize], f: impl Fn(&[usize]) -> f64) -> Nd {
        let n: usize = shape.iter().product();
        Nd {
            shape: shape.to_vec(),
            data: (0..n).map(|i| f(&unravel(i, shape))).collect(),
        }
    }
    fn random(shape: &[usize], seed: u32) -> Nd {
        let mut r = Mt19937::new(seed);
        let n: usize = shape.iter().product();
        Nd {
            shape: shape.to_vec(),
            data: (0..n).map(|_| r.standard_normal()).collect(),
        }
    }
    fn get(&self, idx: &[usize]) -> f64 {
        self.data[ravel(idx, &self.shape)]
    }
    fn tensor(&self) -> Tensor {
        Tensor::from_vec(self.data.clone(), &self.shape).unwrap()
    }
    fn permute(&self, perm: &[usize]) -> Nd {
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        Nd::from_fn(&shape, |idx| {
            let mut src = vec![0; idx.len()];
            for (i, &p) in perm.iter().enumerate() {
                src[p] = idx[i];
            }
            self.get(&src)
        })
    }
    fn narrow(&self, dim: usize, start: usize, len: usize) -> Nd {
        let mut shape = self.shape.clone();
        shape[dim] = len;
        Nd::from_fn(&shape, |idx| {
            let mut src = idx.to_vec();
            src[dim] += start;
            self.get(&src)
        })
    }
    /// NumPy broadcasting to `shape`.
    fn broadcast(&self, shape: &[usize]) -> Nd {
        let extra = shape.len() - self.shape.len();
        Nd::from_fn(shape, |idx| {
            let src: Vec<usize> = self
                .shape
                .iter()
                .enumerate()
                .map(|(i, &n)| if n == 1 { 0 } else { idx[extra + i] })
                .collect();
            self.get(&src)
        })
    }
}

fn perm_strategy(rank: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..rank).collect::<Vec<usize>>()).prop_shuffle()
}

/// A pair of shapes that broadcast: suffixes of one full shape, some dims replaced by 1.
fn broadcastable_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(0usize..4, 0..=4)
        .prop_flat_map(|s| {
            let r = s.len();
            (
                Just(s),
                0..=r,
                0..=r,
                prop::collection::vec(any::<bool>(), r),
                prop::collection::vec(any::<bool>(), r),
            )
        })
        .prop_map(|(s, ra, rb, ones_a, ones_b)| {
            let r = s.len();
            let a = (r - ra..r)
                .map(|i| if ones_a[i] { 1 } else { s[i] })
                .collect();
            let b = (r - rb..r)
                .map(|i| if ones_b[i] { 1 } else { s[i] })
                .collect();
            (a, b)
        })
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_vec_f64()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn broadcasting_binary_ops_follow_numpy((sa, sb) in broadcastable_pair(), seed in any::<u32>()) {
        let want = broadcast_shapes("test", &sa, &sb).unwrap();
        let (a, b) = (Nd::random(&sa, seed), Nd::random(&sb, seed ^ 1));
        let (ta, tb) = (a.tensor(), b.tensor());
        let (ra, rb) = (a.broadcast(&want), b.broadcast(&want));
        let sum = ta.add(&tb).unwrap();
        prop_assert_eq!(sum.shape(), &want[..]);
        let expect: Vec<f64> = ra.data.iter().zip(&rb.data).map(|(x, y)| x + y).collect();
        prop_assert_eq!(values(&sum), expect);
        let prod = tb.mul(&ta).unwrap();
        let expect: Vec<f64> = ra.data.iter().zip(&rb.data).map(|(x, y)| y * x).collect();
        prop_assert_eq!(values(&prod), expect);
        let mx = ta.maximum(&tb).unwrap();
        let expect: Vec<f64> = ra.data.iter().zip(&rb.data).map(|(x, y)| x.max(*y)).collect();
        prop_assert_eq!(values(&mx), expect);
        // broadcast_to gives the same values as the reference
        prop_assert_eq!(values(&ta.broadcast_to(&want).unwrap()), ra.data.clone());
        // and in f32 the shape is the same
        let s32 = ta.to_dtype(DType::F32).unwrap().sub(&tb.to_dtype(DType::F32).unwrap()).unwrap();
        prop_assert_eq!(s32.shape(), &want[..]);
    }

    #[test]
    fn gradients_of_broadcast_inputs_have_the_input_shapes((sa, sb) in broadcastable_pair()) {
        let va = nabla_core::Var::new(&Tensor::ones(&sa, DType::F64));
        let vb = nabla_core::Var::new(&Tensor::ones(&sb, DType::F64));
        let y = va.as_tensor().mul(&vb.as_tensor()).unwrap().sum().unwrap();
        let g = y.backward().unwrap();
        let out: usize = broadcast_shapes("test", &sa, &sb).unwrap().iter().product();
        let ga = va.grad(&g).unwrap();
        prop_assert_eq!(ga.shape(), &sa[..]);
        // each element of a is used out / numel(a) times
        let na: usize = sa.iter().product();
        if na > 0 {
            prop_assert!(values(ga).iter().all(|&x| x == (out / na) as f64));
        }
        prop_assert_eq!(vb.grad(&g).unwrap().shape(), &sb[..]);
    }

    #[test]
    fn permute_and_reshape_round_trip(
        (shape, perm) in prop::collection::vec(0usize..4, 1..=4)
            .prop_flat_map(|s| { let r = s.len(); (Just(s), perm_strategy(r)) }),
        seed in any::<u32>(),
    ) {
        let x = Nd::random(&shape, seed);
        let t = x.tensor();
        let p = t.permute(&perm).unwrap();
        let rp = x.permute(&perm);
        prop_assert_eq!(p.shape(), &rp.shape[..]);
        prop_assert_eq!(values(&p), rp.data.clone());
        let mut inv = vec![0; perm.len()];
        for (i, &q) in perm.iter().enumerate() {
            inv[q] = i;
        }
        let back = p.permute(&inv).unwrap();
        prop_assert_eq!(back.shape(), &shape[..]);
        prop_assert_eq!(values(&back), x.data.clone());
        // reshape a (possibly non-contiguous) view to flat, to reversed dims, and back
        let n = rp.data.len();
        let flat = p.reshape(&[n]).unwrap();
        prop_assert_eq!(values(&flat), rp.data.clone());
        let rev: Vec<usize> = rp.shape.iter().rev().copied().collect();
        let r2 = p.reshape(&rev).unwrap().reshape(&rp.shape).unwrap();
        prop_assert_eq!(values(&r2), rp.data.clone());
        let inferred: Vec<isize> = std::iter::once(-1).chain(rp.shape[1..].iter().map(|&d| d as isize)).collect();
        if rp.shape[1..].iter().all(|&d| d > 0) {
            let ri = p.reshape_infer(&inferred).unwrap();
            prop_assert_eq!(ri.shape(), &rp.shape[..]);
        }
    }

    #[test]
    fn sum_over_random_axes(
        (shape, axes, perm) in prop::collection::vec(0usize..4, 1..=4).prop_flat_map(|s| {
            let r = s.len();
            (Just(s), prop::collection::vec(any::<bool>(), r), perm_strategy(r))
        }),
        keepdim in any::<bool>(),
        seed in any::<u32>(),
    ) {
        // reduce a permuted view, so strided inputs are covered too
        let x = Nd::random(&shape, seed).permute(&perm);
        let t = Nd::random(&shape, seed).tensor().permute(&perm).unwrap();
        let dims: Vec<isize> = axes.iter().enumerate().filter(|(_, &a)| a).map(|(i, _)| i as isize).collect();
        let reduced = |i: usize| dims.is_empty() || dims.contains(&(i as isize));
        let keep_shape: Vec<usize> =
            x.shape.iter().enumerate().map(|(i, &d)| if reduced(i) { 1 } else { d }).collect();
        let drop_shape: Vec<usize> =
            x.shape.iter().enumerate().filter(|(i, _)| !reduced(*i)).map(|(_, &d)| d).collect();
        let mut want = vec![0.0; keep_shape.iter().product()];
        for (i, v) in x.data.iter().enumerate() {
            let mut idx = unravel(i, &x.shape);
            for (d, k) in idx.iter_mut().enumerate() {
                if reduced(d) {
                    *k = 0;
                }
            }
            want[ravel(&idx, &keep_shape)] += v;
        }
        let s = t.sum_dims(&dims, keepdim).unwrap();
        prop_assert_eq!(s.shape(), if keepdim { &keep_shape[..] } else { &drop_shape[..] });
        prop_assert!(close(&values(&s), &want), "{:?} vs {:?}", values(&s), want);
        // mean is the sum over the count
        let count: usize = x.shape.iter().enumerate().filter(|(i, _)| reduced(*i)).map(|(_, &d)| d).product();
        if count > 0 {
            let m = t.mean_dims(&dims, keepdim).unwrap();
            let wm: Vec<f64> = want.iter().map(|v| v / count as f64).collect();
            prop_assert!(close(&values(&m), &wm));
        }
        // negative axes mean the same
        let neg: Vec<isize> = dims.iter().map(|&d| d - x.shape.len() as isize).collect();
        prop_assert_eq!(values(&t.sum_dims(&neg, keepdim).unwrap()), values(&s));
    }

    #[test]
    fn matmul_shapes_and_values(
        (batch_a, batch_b) in broadcastable_pair(),
        (m, k, n) in (0usize..4, 0usize..4, 0usize..4),
        (a1, b1) in (any::<bool>(), any::<bool>()),
        transpose_b in any::<bool>(),
        seed in any::<u32>(),
    ) {
        // a 1-d operand has no batch dims
        let (batch_a, batch_b) = (if a1 { vec![] } else { batch_a }, if b1 { vec![] } else { batch_b });
        let mut sa = batch_a.clone();
        sa.extend(if a1 { vec![k] } else { vec![m, k] });
        let mut sb = batch_b.clone();
        sb.extend(if b1 { vec![k] } else { vec![k, n] });
        let batch = broadcast_shapes("test", &batch_a, &batch_b).unwrap();
        let mut want_shape = batch.clone();
        if !a1 {
            want_shape.push(m);
        }
        if !b1 {
            want_shape.push(n);
        }
        let (a, b) = (Nd::random(&sa, seed), Nd::random(&sb, seed ^ 7));
        let tb = if transpose_b && !b1 {
            // the same values held as a transposed view
            let r = sb.len();
            let mut p: Vec<usize> = (0..r).collect();
            p.swap(r - 1, r - 2);
            b.permute(&p).tensor().transpose(-1, -2).unwrap()
        } else {
            b.tensor()
        };
        let out = a.tensor().matmul(&tb).unwrap();
        prop_assert_eq!(out.shape(), &want_shape[..]);
        // reference: promote 1-d operands, broadcast batches, multiply
        let am = if a1 { Nd { shape: vec![1, k], data: a.data.clone() } } else { a.clone() };
        let bm = if b1 { Nd { shape: vec![k, 1], data: b.data.clone() } } else { b.clone() };
        let (mm, nn) = (if a1 { 1 } else { m }, if b1 { 1 } else { n });
        let mut fa = batch.clone();
        fa.extend([mm, k]);
        let mut fb = batch.clone();
        fb.extend([k, nn]);
        let (ab, bb) = (am.broadcast(&fa), bm.broadcast(&fb));
        let mut full = batch.clone();
        full.extend([mm, nn]);
        let want = Nd::from_fn(&full, |idx| {
            let r = idx.len();
            (0..k)
                .map(|j| {
                    let mut ia = idx.to_vec();
                    ia[r - 1] = j;
                    let mut ib = idx.to_vec();
                    ib[r - 2] = j;
                    ab.get(&ia) * bb.get(&ib)
                })
                .sum()
        });
        prop_assert!(close(&values(&out), &want.data), "{:?} vs {:?}", values(&out), want.data);
    }

    #[test]
    fn cat_then_split_round_trip(
        (base, dim) in prop::collection::vec(0usize..4, 1..=3)
            .prop_flat_map(|s| { let r = s.len(); (Just(s), 0..r) }),
        sizes in prop::collection::vec(0usize..4, 1..=4),
        seed in any::<u32>(),
    ) {
        let pieces: Vec<Nd> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let mut s = base.clone();
                s[dim] = len;
                Nd::random(&s, seed.wrapping_add(i as u32))
            })
            .collect();
        let ts: Vec<Tensor> = pieces.iter().map(Nd::tensor).collect();
        let refs: Vec<&Tensor> = ts.iter().collect();
        let c = Tensor::cat(&refs, dim as isize).unwrap();
        let mut want = base.clone();
        want[dim] = sizes.iter().sum();
        prop_assert_eq!(c.shape(), &want[..]);
        let mut start = 0;
        for (p, &len) in pieces.iter().zip(&sizes) {
            let back = c.narrow(dim, start, len).unwrap();
            prop_assert_eq!(back.shape(), &p.shape[..]);
            prop_assert_eq!(values(&back), p.data.clone());
            start += len;
        }
        // equal pieces come back from split and chunk
        let size = sizes[0];
        if size > 0 {
            let eq: Vec<Tensor> = (0..sizes.len()).map(|_| ts[0].clone()).collect();
            let refs: Vec<&Tensor> = eq.iter().collect();
            let c = Tensor::cat(&refs, dim as isize).unwrap();
            for parts in [c.split(size, dim as isize).unwrap(), c.chunk(sizes.len(), dim as isize).unwrap()] {
                prop_assert_eq!(parts.len(), sizes.len());
                for q in &parts {
                    prop_assert_eq!(values(q), pieces[0].data.clone());
                }
            }
            // stack is cat of unsqueezed pieces
            let st = Tensor::stack(&refs, dim as isize).unwrap();
            let mut ss = pieces[0].shape.clone();
            ss.insert(dim, sizes.len());
            prop_assert_eq!(st.shape(), &ss[..]);
        }
    }

    #[test]
    fn views_equal_their_contiguous_copies(
        shape in prop::collection::vec(0usize..5, 1..=4),
        ops in prop::collection::vec((0u8..4, any::<u32>(), any::<u32>()), 0..5),
        seed in any::<u32>(),
    ) {
        let mut x = Nd::random(&shape, seed);
        let mut t = x.tensor();
        for (kind, p, q) in ops {
            let r = x.shape.len();
            match kind {
                0 => {
                    // permute: rotate the dims by p
                    let perm: Vec<usize> = (0..r).map(|i| (i + p as usize) % r).collect();
                    t = t.permute(&perm).unwrap();
                    x = x.permute(&perm);
                }
                1 => {
                    let d = p as usize % r;
                    let n = x.shape[d];
                    let start = q as usize % (n + 1);
                    let len = (q as usize / 7) % (n - start + 1);
                    t = t.narrow(d, start, len).unwrap();
                    x = x.narrow(d, start, len);
                }
                2 => {
                    // broadcast: a new leading dim, and size-1 dims expanded
                    let mut s = vec![1 + p as usize % 3];
                    s.extend(x.shape.iter().map(|&d| if d == 1 { 1 + q as usize % 3 } else { d }));
                    t = t.broadcast_to(&s).unwrap();
                    x = x.broadcast(&s);
                }
                _ => {
                    if r >= 2 {
                        let (a, b) = (p as usize % r, q as usize % r);
                        t = t.transpose(a as isize, b as isize).unwrap();
                        let mut perm: Vec<usize> = (0..r).collect();
                        perm.swap(a, b);
                        x = x.permute(&perm);
                    }
                }
            }
            prop_assert_eq!(t.shape(), &x.shape[..]);
        }
        let c = t.contiguous().unwrap();
        prop_assert!(c.is_contiguous());
        prop_assert_eq!(values(&t), x.data.clone());
        prop_assert_eq!(values(&c), x.data.clone());
        // ops on the view and on its copy agree
        prop_assert_eq!(values(&t.exp().unwrap()), values(&c.exp().unwrap()));
        let all = x.shape.len() as isize;
        let dims: Vec<isize> = (0..all).collect();
        prop_assert_eq!(values(&t.sum_dims(&dims, true).unwrap()).len(), 1);
        let flat = t.reshape(&[x.data.len()]).unwrap();
        prop_assert_eq!(values(&flat), x.data.clone());
    }
}
