//! Errors are values: every bad call returns `Err` (never panics), and the message names the op
//! and the shapes involved.

use nabla_core::{
    gradcheck, index_tensor, no_grad, AvgPool1dOptions, AvgPool2dOptions, Conv1dOptions,
    Conv2dOptions, ConvTranspose2dOptions, DType, Error, GradcheckOptions, MaxPool1dOptions,
    MaxPool2dOptions, Result, Tensor, Var,
};
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, which must return `Err` without panicking; gives the error.
#[track_caller]
fn fails<T: Debug>(f: impl FnOnce() -> Result<T>) -> Error {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => panic!("expected an error, got Ok({v:?})"),
        Ok(Err(e)) => e,
        Err(_) => panic!("panicked instead of returning an error"),
    }
}

/// The error's message, which must contain every part.
#[track_caller]
fn msg_has<T: Debug>(f: impl FnOnce() -> Result<T>, parts: &[&str]) -> String {
    let m = fails(f).to_string();
    for p in parts {
        assert!(m.contains(p), "{m:?} does not contain {p:?}");
    }
    m
}

/// `[("add", Tensor::add as F), ...]`: tensor methods of type `F`, each with its name.
macro_rules! methods {
    ($f:ty: $($op:ident),* $(,)?) => {
        [$((stringify!($op), Tensor::$op as $f)),*]
    };
}

fn f32s(shape: &[usize]) -> Tensor {
    Tensor::ones(shape, DType::F32)
}
fn f64s(shape: &[usize]) -> Tensor {
    Tensor::ones(shape, DType::F64)
}
fn i64s(v: &[i64], shape: &[usize]) -> Tensor {
    index_tensor(v, shape).unwrap()
}

// ---------- matmul ----------

#[test]
fn matmul_misfit_message_is_exact() {
    let e = fails(|| f32s(&[2, 3]).matmul(&f32s(&[4, 5])));
    assert_eq!(
        e.to_string(),
        "matmul: lhs [2, 3] and rhs [4, 5] do not fit (3 != 4)"
    );
    assert!(matches!(e, Error::Shape { op: "matmul", .. }), "{e:?}");
    assert_eq!(
        fails(|| f32s(&[3]).matmul(&f32s(&[4]))).to_string(),
        "matmul: lhs [3] and rhs [4] do not fit (3 != 4)"
    );
    assert_eq!(
        fails(|| f32s(&[2, 3]).matmul(&f32s(&[4]))).to_string(),
        "matmul: lhs [2, 3] and rhs [4] do not fit (3 != 4)"
    );
    assert_eq!(
        fails(|| f32s(&[5]).matmul(&f32s(&[2, 4, 3]))).to_string(),
        "matmul: lhs [5] and rhs [2, 4, 3] do not fit (5 != 4)"
    );
}

#[test]
fn matmul_other_errors() {
    msg_has(
        || f32s(&[2, 3, 4]).matmul(&f32s(&[5, 4, 2])),
        &["matmul", "[2, 3, 4]", "[5, 4, 2]"],
    );
    msg_has(|| f32s(&[]).matmul(&f32s(&[3])), &["matmul", "[]", "[3]"]);
    msg_has(
        || f32s(&[2, 3]).matmul(&f64s(&[3, 2])),
        &["matmul", "f32", "f64", "[2, 3]", "[3, 2]"],
    );
    msg_has(
        || i64s(&[1, 2, 3, 4], &[2, 2]).matmul(&i64s(&[1, 2, 3, 4], &[2, 2])),
        &["matmul", "i64"],
    );
}

// ---------- elementwise ----------

#[test]
fn binary_broadcast_mismatch_names_op_and_shapes() {
    type Bin = fn(&Tensor, &Tensor) -> Result<Tensor>;
    let ops = methods!(Bin: add, sub, mul, div, maximum, minimum, pow, eq, ne, lt, le, gt, ge);
    for (name, f) in ops {
        let m = msg_has(|| f(&f32s(&[2, 3]), &f32s(&[4])), &["[2, 3]", "[4]"]);
        assert!(
            m.starts_with(&format!("{name}: ")),
            "{m:?} does not start with {name}"
        );
        let m = msg_has(
            || f(&f64s(&[2, 1, 3]), &f64s(&[4, 2])),
            &["[2, 1, 3]", "[4, 2]"],
        );
        assert!(m.starts_with(&format!("{name}: ")), "{m:?}");
    }
    assert_eq!(
        fails(|| f32s(&[2, 3]).add(&f32s(&[4]))).to_string(),
        "add: shapes [2, 3] and [4] cannot be broadcast (dim 1: 3 vs 4)"
    );
    // the operator forms behave the same
    msg_has(|| &f32s(&[2]) + &f32s(&[3]), &["add", "[2]", "[3]"]);
    msg_has(|| &f32s(&[2]) * &f32s(&[3]), &["mul", "[2]", "[3]"]);
    // where: mask, a and b must broadcast together
    msg_has(
        || Tensor::where_cond(&f32s(&[2, 3]), &f32s(&[2, 3]), &f32s(&[2])),
        &["where", "[2, 3]", "[2]"],
    );
    msg_has(
        || Tensor::where_cond(&f32s(&[4]), &f32s(&[2, 3]), &f32s(&[3])),
        &["where", "[4]", "[2, 3]"],
    );
}

#[test]
fn dtype_mismatch_names_op_dtypes_and_shapes() {
    assert_eq!(
        fails(|| f32s(&[2, 3]).add(&f64s(&[3]))).to_string(),
        "add: dtypes differ: lhs f32 [2, 3] and rhs f64 [3]"
    );
    msg_has(|| f64s(&[2]).mul(&f32s(&[2])), &["mul", "f64", "f32"]);
    msg_has(|| f32s(&[2]).eq(&f64s(&[2])), &["eq", "f32", "f64"]);
    msg_has(
        || Tensor::where_cond(&f32s(&[2]), &f32s(&[2]), &f64s(&[2])),
        &["where", "f32", "f64"],
    );
    msg_has(
        || Tensor::cat(&[&f32s(&[2]), &f64s(&[2])], 0),
        &["cat", "f32", "f64"],
    );
    msg_has(
        || f32s(&[3]).index_add(0, &i64s(&[0], &[1]), &f64s(&[1])),
        &["index_add", "f32", "f64"],
    );
    msg_has(
        || f32s(&[3]).scatter_add(0, &i64s(&[0], &[1]), &f64s(&[1])),
        &["scatter_add", "f32", "f64"],
    );
    // i64 tensors are for indices: float arithmetic on them fails
    msg_has(
        || i64s(&[1, 2], &[2]).add(&i64s(&[1, 2], &[2])),
        &["add", "i64"],
    );
}

#[test]
fn float_ops_on_i64_fail() {
    let x = i64s(&[1, 2], &[2]);
    assert_eq!(
        fails(|| x.exp()).to_string(),
        "exp: needs a float tensor, got i64 [2]"
    );
    type Un = fn(&Tensor) -> Result<Tensor>;
    let ops = methods!(
        Un: neg, exp, log, sqrt, tanh, sin, cos, abs, recip, sigmoid, relu, erf, sum, max, min, sign
    );
    for (name, f) in ops {
        let m = msg_has(|| f(&x), &["i64"]);
        assert!(
            m.starts_with(&format!("{name}: ")),
            "{m:?} does not start with {name}"
        );
    }
    msg_has(|| x.affine(2.0, 1.0), &["affine", "i64"]);
    msg_has(|| x.powf(2.0), &["powf", "i64"]);
    msg_has(|| x.clamp(0.0, 1.0), &["clamp", "i64"]);
    msg_has(|| x.leaky_relu(0.1), &["leaky_relu", "i64"]);
    msg_has(|| x.softplus_with(2.0, 20.0), &["softplus", "i64"]);
    msg_has(|| x.softplus(), &["softplus", "i64"]);
    msg_has(|| x.mean(), &["i64"]);
    msg_has(|| x.softmax(0), &["i64"]);
    msg_has(|| x.gelu(), &["i64"]);
}

// ---------- shape ops ----------

#[test]
fn reshape_count_mismatch() {
    assert_eq!(
        fails(|| f32s(&[2, 3]).reshape(&[4])).to_string(),
        "reshape: cannot view [2, 3] (6 elements) as [4] (4 elements)"
    );
    msg_has(
        || f32s(&[2, 3]).t()?.reshape(&[5]),
        &["reshape", "[3, 2]", "[5]"],
    );
    msg_has(|| f32s(&[2, 3]).reshape_infer(&[-1, -1]), &["reshape"]);
    msg_has(
        || f32s(&[2, 3]).reshape_infer(&[4, -1]),
        &["reshape", "[2, 3]"],
    );
    msg_has(|| f32s(&[2, 3]).reshape_infer(&[-2, 3]), &["reshape"]);
    msg_has(
        || Tensor::from_vec(vec![1.0f32; 5], &[2, 3]),
        &["from_vec", "[2, 3]", "5"],
    );
    msg_has(|| f32s(&[2, 3]).flatten(1, 0), &["flatten"]);
    msg_has(|| f32s(&[2, 3]).flatten(0, 2), &["flatten", "2"]);
    msg_has(|| f32s(&[2, 3]).unsqueeze(3), &["unsqueeze", "3"]);
    msg_has(|| f32s(&[2, 3]).squeeze(2), &["squeeze", "2"]);
}

#[test]
fn cat_and_stack_mismatch() {
    assert_eq!(
        fails(|| Tensor::cat(&[&f32s(&[2, 3]), &f32s(&[2, 4])], 0)).to_string(),
        "cat: shapes [2, 3] and [2, 4] differ outside dim 0"
    );
    msg_has(
        || Tensor::cat(&[&f32s(&[2, 3]), &f32s(&[3])], 0),
        &["cat", "[2, 3]", "[3]"],
    );
    msg_has(|| Tensor::cat(&[], 0), &["cat"]);
    msg_has(
        || Tensor::cat(&[&f32s(&[2, 3]), &f32s(&[2, 3])], 2),
        &["cat", "2"],
    );
    msg_has(
        || Tensor::stack(&[&f32s(&[2, 3]), &f32s(&[3, 2])], 0),
        &["stack", "[2, 3]", "[3, 2]"],
    );
    msg_has(|| Tensor::stack(&[], 0), &["stack"]);
    msg_has(|| Tensor::stack(&[&f32s(&[2])], 2), &["stack"]);
}

#[test]
fn narrow_out_of_range() {
    assert_eq!(
        fails(|| f32s(&[2, 3]).narrow(1, 2, 3)).to_string(),
        "narrow: range 2..5 out of bounds for dim 1 of [2, 3]"
    );
    msg_has(|| f32s(&[2, 3]).narrow(2, 0, 1), &["narrow", "2", "[2, 3]"]);
    msg_has(|| f32s(&[2, 3]).narrow(0, 3, 0), &["narrow", "[2, 3]"]);
    // a start so large that start + len overflows is out of range, not a panic
    msg_has(
        || f32s(&[2, 3]).narrow(0, usize::MAX, 2),
        &["narrow", "[2, 3]"],
    );
}

#[test]
fn permute_bad_perm() {
    assert_eq!(
        fails(|| f32s(&[2, 3]).permute(&[0, 0])).to_string(),
        "permute: [0, 0] is not a permutation of the dims of [2, 3]"
    );
    msg_has(
        || f32s(&[2, 3]).permute(&[0]),
        &["permute", "[0]", "[2, 3]"],
    );
    msg_has(
        || f32s(&[2, 3]).permute(&[0, 2]),
        &["permute", "[0, 2]", "[2, 3]"],
    );
    msg_has(|| f32s(&[2, 3]).permute(&[1, 0, 2]), &["permute", "[2, 3]"]);
    msg_has(|| f32s(&[2, 3]).transpose(0, 2), &["transpose", "2"]);
    msg_has(|| f32s(&[2, 3]).transpose(-3, 0), &["transpose", "-3"]);
    msg_has(|| f32s(&[2, 3, 4]).t(), &["t:", "[2, 3, 4]"]);
}

#[test]
fn broadcast_to_and_pad_errors() {
    msg_has(
        || f32s(&[2, 3]).broadcast_to(&[3]),
        &["broadcast_to", "[2, 3]", "[3]"],
    );
    msg_has(
        || f32s(&[2, 3]).broadcast_to(&[2, 4]),
        &["broadcast_to", "[2, 3]", "[2, 4]"],
    );
    msg_has(|| f32s(&[2, 3]).expand(&[3, 3]), &["[2, 3]", "[3, 3]"]);
    msg_has(|| f32s(&[2]).pad(&[(1, 1), (1, 1)], 0.0), &["pad", "[2]"]);
    msg_has(|| f32s(&[2]).split(0, 0), &["split"]);
    msg_has(|| f32s(&[2]).split(1, 1), &["split", "1"]);
    msg_has(|| f32s(&[2]).chunk(0, 0), &["chunk"]);
    // clamp with min > max is valid in PyTorch (every element becomes max): see tests/edges.rs
}

// ---------- indexing ----------

#[test]
fn index_select_errors() {
    let x = f32s(&[3, 2]);
    msg_has(
        || x.index_select(0, &i64s(&[0, 5], &[2])),
        &["index_select", "5", "3"],
    );
    msg_has(
        || x.index_select(0, &i64s(&[-1], &[1])),
        &["index_select", "-1"],
    );
    assert_eq!(
        fails(|| x.index_select(0, &f64s(&[2]))).to_string(),
        "index_select: indices must be i64, got f64 [2]"
    );
    msg_has(
        || x.index_select(0, &i64s(&[0, 1], &[1, 2])),
        &["index_select", "[1, 2]"],
    );
    msg_has(
        || x.index_select(2, &i64s(&[0], &[1])),
        &["index_select", "2"],
    );
    msg_has(
        || x.index_add(0, &i64s(&[0], &[1]), &f32s(&[2, 2])),
        &["index_add", "[3, 2]", "[1]", "[2, 2]"],
    );
    msg_has(
        || x.index_add(0, &i64s(&[7], &[1]), &f32s(&[1, 2])),
        &["index_add", "7"],
    );
    msg_has(
        || x.index_add(0, &f32s(&[1]), &f32s(&[1, 2])),
        &["index_add", "i64", "f32"],
    );
}

#[test]
fn gather_and_scatter_errors() {
    let x = f32s(&[2, 3]);
    assert_eq!(
        fails(|| x.gather(1, &i64s(&[0; 9], &[3, 3]))).to_string(),
        "gather: input [2, 3] and index [3, 3] do not fit along dim 1"
    );
    msg_has(
        || x.gather(1, &i64s(&[0; 3], &[3])),
        &["gather", "[2, 3]", "[3]"],
    );
    msg_has(|| x.gather(1, &i64s(&[0, 3], &[2, 1])), &["gather", "3"]);
    msg_has(|| x.gather(1, &f64s(&[2, 1])), &["gather", "i64", "f64"]);
    msg_has(|| x.gather(2, &i64s(&[0, 0], &[2, 1])), &["gather", "2"]);
    msg_has(
        // a source smaller than the index (PyTorch rejects it too)
        || x.scatter_add(1, &i64s(&[0; 4], &[2, 2]), &f32s(&[2, 1])),
        &["scatter_add", "[2, 2]", "[2, 1]"],
    );
    msg_has(
        || x.scatter_add(1, &i64s(&[0; 3], &[3, 1]), &f32s(&[3, 1])),
        &["scatter_add", "[2, 3]", "[3, 1]"],
    );
    msg_has(
        || x.scatter_add(0, &i64s(&[2, 0], &[1, 2]), &f32s(&[1, 2])),
        &["scatter_add", "2"],
    );
}

// ---------- reductions ----------

#[test]
fn reductions_reject_bad_axes_and_name_the_op() {
    let x = f32s(&[2, 3]);
    assert_eq!(
        fails(|| x.sum_dims(&[2], false)).to_string(),
        "sum: axis 2 out of range for a tensor of rank 2"
    );
    type Red = Box<dyn Fn(&Tensor, isize) -> Result<Tensor>>;
    let ops: Vec<(&str, Red)> = vec![
        ("sum", Box::new(|t, d| t.sum_dims(&[d], false))),
        ("mean", Box::new(|t, d| t.mean_dims(&[d], true))),
        ("max", Box::new(|t, d| t.max_dims(&[d], false))),
        ("min", Box::new(|t, d| t.min_dims(&[d], true))),
        ("var", Box::new(|t, d| t.var_dims(&[d], false, 1))),
        ("std", Box::new(|t, d| t.std_dims(&[d], false, 1))),
        ("logsumexp", Box::new(|t, d| t.logsumexp(&[d], false))),
        ("softmax", Box::new(|t, d| t.softmax(d))),
        ("log_softmax", Box::new(|t, d| t.log_softmax(d))),
        ("argmax", Box::new(|t, d| t.argmax(Some(d), false))),
        ("argmin", Box::new(|t, d| t.argmin(Some(d), true))),
    ];
    for (name, f) in &ops {
        for d in [2, -3, 100] {
            let m = msg_has(|| f(&x, d), &[&d.to_string()]);
            assert!(
                m.starts_with(&format!("{name}: ")),
                "{m:?} does not start with {name}"
            );
        }
    }
    msg_has(|| x.sum_dims(&[1, -1], false), &["sum", "repeated"]);
    msg_has(|| x.max_dims(&[0, 0], true), &["max", "repeated"]);
}

#[test]
fn reductions_over_empty_dims() {
    let e = f32s(&[0, 3]);
    msg_has(|| e.max(), &["max", "[0, 3]"]);
    msg_has(|| e.min_dims(&[0], false), &["min", "[0, 3]"]);
    assert_eq!(
        fails(|| f32s(&[0]).argmax(None, false)).to_string(),
        "argmax: cannot reduce an empty dim of [0]"
    );
    msg_has(|| e.argmax(None, false), &["argmax", "[0, 3]"]);
    msg_has(|| e.argmin(Some(0), false), &["argmin", "[0, 3]"]);
    // reducing along the non-empty dim is fine (PyTorch gives an empty result)
    assert_eq!(e.argmax(Some(1), false).unwrap().shape(), &[0]);
    assert_eq!(e.max_dims(&[1], false).unwrap().shape(), &[0]);
    // sums of nothing are 0
    assert_eq!(
        e.sum_dims(&[0], false).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0; 3]
    );
}

/// 0-d tensors have no axes: axis arguments give errors (or PyTorch's scalar result), never a
/// panic.
#[test]
fn axis_arguments_on_a_0d_tensor_never_panic() {
    let s = Tensor::scalar(2.0f64);
    let ix = i64s(&[0], &[1]);
    type Call = Box<dyn Fn(&Tensor) -> Result<Tensor>>;
    let calls: Vec<(&str, Call)> = vec![
        ("sum_dims", Box::new(|t| t.sum_dims(&[0], false))),
        ("mean_dims", Box::new(|t| t.mean_dims(&[0], true))),
        ("max_dims", Box::new(|t| t.max_dims(&[-1], false))),
        ("var_dims", Box::new(|t| t.var_dims(&[0], false, 0))),
        ("logsumexp", Box::new(|t| t.logsumexp(&[0], false))),
        ("softmax", Box::new(|t| t.softmax(0))),
        ("log_softmax", Box::new(|t| t.log_softmax(-1))),
        ("argmax", Box::new(|t| t.argmax(Some(0), false))),
        ("transpose", Box::new(|t| t.transpose(0, 0))),
        ("squeeze", Box::new(|t| t.squeeze(0))),
        ("cat", Box::new(|t| Tensor::cat(&[t, t], 0))),
        ("split", Box::new(|t| t.split(1, 0).map(|v| v[0].clone()))),
        ("chunk", Box::new(|t| t.chunk(1, 0).map(|v| v[0].clone()))),
        ("index_select", Box::new(move |t| t.index_select(0, &ix))),
        ("gather", Box::new(|t| t.gather(0, &i64s(&[0], &[])))),
        (
            "dim",
            Box::new(|t| t.dim(0).map(|d| Tensor::scalar(d as f64))),
        ),
    ];
    for (name, f) in calls {
        match catch_unwind(AssertUnwindSafe(|| f(&s))) {
            Ok(Ok(v)) => assert_eq!(v.to_vec_f64().len(), 1, "{name}: {v:?}"),
            Ok(Err(e)) => assert!(!e.to_string().is_empty()),
            Err(_) => panic!("{name} on a 0-d tensor panicked"),
        }
    }
}

// ---------- autograd ----------

#[test]
fn backward_errors() {
    let t = f64s(&[2]).sum().unwrap();
    let m = msg_has(|| t.backward().map(|g| g.len()), &["backward"]);
    assert!(m.starts_with("backward: "), "{m}");
    let v = Var::new(&f64s(&[2]));
    let y = v.as_tensor().exp().unwrap();
    msg_has(|| y.backward().map(|g| g.len()), &["backward", "[2]"]);
    msg_has(
        || y.backward_with(Some(f64s(&[3])), false).map(|g| g.len()),
        &["backward", "[3]", "[2]"],
    );
    let z = {
        let _g = no_grad();
        v.as_tensor().exp().unwrap().sum().unwrap()
    };
    msg_has(|| z.backward().map(|g| g.len()), &["backward"]);
    // a computed (non-Var) tensor has no gradient of its own
    let s = y.sum().unwrap();
    let g = s.backward().unwrap();
    assert!(g.get(&y).is_none());
    assert!(v.grad(&g).is_some());
}

#[test]
fn var_set_checks_shape_and_dtype() {
    let v = Var::new(&f64s(&[2]));
    assert_eq!(
        fails(|| v.set(&f64s(&[3]))).to_string(),
        "Var::set: new value f64 [3] differs from the var's f64 [2]"
    );
    msg_has(|| v.set(&f32s(&[2])), &["Var::set", "f32", "f64", "[2]"]);
    assert!(v.set(&Tensor::full(3.0, &[2], DType::F64)).is_ok());
    assert_eq!(v.as_tensor().to_vec::<f64>().unwrap(), vec![3.0, 3.0]);
}

#[test]
fn accessors_and_constructors() {
    msg_has(|| f32s(&[2]).to_scalar(), &["to_scalar", "[2]"]);
    msg_has(|| f32s(&[2]).to_vec::<f64>(), &["f32", "f64"]);
    msg_has(
        || f32s(&[2]).data::<i64>().map(|d| d.len()),
        &["f32", "i64"],
    );
    msg_has(|| f32s(&[2]).to_vec2_f64(), &["[2]"]);
    msg_has(|| f32s(&[2]).dim(1), &["dim", "1"]);
    msg_has(|| Tensor::arange(0.0, 1.0, 0.0, DType::F32), &["arange"]);
    msg_has(|| Tensor::arange(0.0, 1.0, -1.0, DType::F32), &["arange"]);
    msg_has(
        || Tensor::arange(0.0, 1.0, f64::NAN, DType::F32),
        &["arange"],
    );
}

#[test]
fn gradcheck_errors() {
    // the function must return f64
    msg_has(
        || {
            gradcheck(
                |x| x[0].to_dtype(DType::F32),
                &[f64s(&[2])],
                GradcheckOptions::default(),
            )
        },
        &["gradcheck", "f32"],
    );
    // an error inside the function is passed on
    msg_has(
        || {
            gradcheck(
                |x| x[0].reshape(&[3]),
                &[f64s(&[2])],
                GradcheckOptions::default(),
            )
        },
        &["reshape", "[2]", "[3]"],
    );
}

#[test]
fn context_wraps_the_message() {
    let e = fails(|| f32s(&[64, 784]).matmul(&f32s(&[128, 10]))).context("linear \"encoder.2\"");
    assert_eq!(
        e.to_string(),
        "linear \"encoder.2\": matmul: lhs [64, 784] and rhs [128, 10] do not fit (784 != 128)"
    );
}

// ---------- convolutions ----------

#[test]
fn conv2d_errors_name_the_op_and_shapes() {
    let d = Conv2dOptions::default();
    let conv = |x: &[usize], w: &[usize], o: Conv2dOptions| f32s(x).conv2d(&f32s(w), None, o);
    // channels that do not match (C != w.C * groups)
    let m = msg_has(
        || conv(&[1, 3, 5, 5], &[4, 2, 3, 3], d),
        &["conv2d", "[1, 3, 5, 5]", "[4, 2, 3, 3]", "3 channels"],
    );
    assert!(m.contains("groups 1"), "{m}");
    // groups that do not divide C (shows as a channel mismatch) or O
    msg_has(
        || conv(&[1, 5, 5, 5], &[4, 2, 3, 3], d.with_groups(2)),
        &[
            "conv2d",
            "[1, 5, 5, 5]",
            "[4, 2, 3, 3]",
            "5 channels",
            "groups 2",
        ],
    );
    msg_has(
        || conv(&[1, 4, 5, 5], &[3, 2, 3, 3], d.with_groups(2)),
        &[
            "conv2d",
            "[1, 4, 5, 5]",
            "[3, 2, 3, 3]",
            "groups 2 does not divide the 3 output",
        ],
    );
    msg_has(
        || conv(&[1, 4, 5, 5], &[4, 4, 3, 3], d.with_groups(0)),
        &["conv2d", "[1, 4, 5, 5]", "groups"],
    );
    // a kernel larger than the padded input (also through dilation)
    msg_has(
        || conv(&[1, 1, 2, 2], &[1, 1, 3, 3], d),
        &[
            "conv2d",
            "[1, 1, 2, 2]",
            "[1, 1, 3, 3]",
            "larger than the padded input",
        ],
    );
    assert!(conv(&[1, 1, 2, 2], &[1, 1, 3, 3], d.with_padding(1, 1)).is_ok());
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_dilation(2, 1)),
        &[
            "conv2d",
            "[1, 1, 4, 4]",
            "dilation 2",
            "larger than the padded input height",
        ],
    );
    // zero stride, dilation, kernel
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_stride(0, 1)),
        &["conv2d", "[1, 1, 4, 4]", "stride (0, 1)"],
    );
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_dilation(1, 0)),
        &["conv2d", "[1, 1, 4, 4]", "dilation (1, 0)"],
    );
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 1, 0, 3], d),
        &["conv2d", "[1, 1, 0, 3]", "kernel size (0, 3)"],
    );
    // wrong ranks
    msg_has(
        || conv(&[1, 1, 4, 4, 4], &[1, 1, 3, 3], d),
        &["conv2d", "[1, 1, 4, 4, 4]", "rank 4"],
    );
    msg_has(
        || conv(&[4, 4], &[1, 1, 3, 3], d),
        &["conv2d", "[4, 4]", "rank"],
    );
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 3, 3], d),
        &["conv2d", "[1, 3, 3]", "weight must have rank 4"],
    );
    // bias and dtypes
    msg_has(
        || f32s(&[1, 2, 4, 4]).conv2d(&f32s(&[4, 2, 3, 3]), Some(&f32s(&[3])), d),
        &["conv2d", "[1, 2, 4, 4]", "bias [3]", "[4]"],
    );
    msg_has(
        || f32s(&[1, 2, 4, 4]).conv2d(&f64s(&[4, 2, 3, 3]), None, d),
        &["conv2d", "f32", "f64"],
    );
    msg_has(
        || i64s(&[0; 16], &[1, 1, 4, 4]).conv2d(&i64s(&[0; 9], &[1, 1, 3, 3]), None, d),
        &["conv2d", "i64"],
    );
    // parameters so large that the size arithmetic could overflow
    msg_has(
        || conv(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_padding(usize::MAX, 0)),
        &["conv2d", "[1, 1, 4, 4]", "padding", "too large"],
    );
    msg_has(
        || {
            conv(
                &[1, 1, 4, 4],
                &[1, 1, 3, 3],
                d.with_dilation(1, usize::MAX / 2),
            )
        },
        &["conv2d", "dilation", "too large"],
    );
    msg_has(
        || conv(&[1, 4, 5, 5], &[4, 2, 3, 3], d.with_groups(usize::MAX)),
        &["conv2d", "channels"],
    );
    // an empty batch is fine
    assert_eq!(
        conv(&[0, 1, 4, 4], &[2, 1, 3, 3], d).unwrap().shape(),
        &[0, 2, 2, 2]
    );
}

#[test]
fn conv_transpose2d_errors_name_the_op_and_shapes() {
    let d = ConvTranspose2dOptions::default();
    let ct = |x: &[usize], w: &[usize], o: ConvTranspose2dOptions| {
        f32s(x).conv_transpose2d(&f32s(w), None, o)
    };
    msg_has(
        || ct(&[1, 3, 4, 4], &[2, 2, 3, 3], d),
        &[
            "conv_transpose2d",
            "[1, 3, 4, 4]",
            "[2, 2, 3, 3]",
            "3 channels",
        ],
    );
    msg_has(
        || ct(&[1, 3, 4, 4], &[3, 1, 3, 3], d.with_groups(2)),
        &[
            "conv_transpose2d",
            "[1, 3, 4, 4]",
            "groups 2 does not divide the 3 input",
        ],
    );
    // output_padding must be smaller than the stride or the dilation (PyTorch's rule)
    msg_has(
        || {
            ct(
                &[1, 1, 4, 4],
                &[1, 1, 3, 3],
                d.with_stride(2, 2).with_output_padding(2, 0),
            )
        },
        &[
            "conv_transpose2d",
            "[1, 1, 4, 4]",
            "output_padding 2",
            "stride 2",
            "dilation 1",
        ],
    );
    msg_has(
        || ct(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_output_padding(0, 1)),
        &["conv_transpose2d", "output_padding 1", "width"],
    );
    assert!(ct(
        &[1, 1, 4, 4],
        &[1, 1, 3, 3],
        d.with_dilation(2, 2).with_output_padding(1, 1)
    )
    .is_ok());
    msg_has(
        || ct(&[1, 1, 1, 1], &[1, 1, 1, 1], d.with_padding(1, 0)),
        &[
            "conv_transpose2d",
            "[1, 1, 1, 1]",
            "padding 1 leaves no output",
        ],
    );
    msg_has(
        || ct(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_stride(0, 0)),
        &["conv_transpose2d", "stride (0, 0)"],
    );
    msg_has(
        || ct(&[1, 0, 4, 4], &[0, 2, 3, 3], d.with_groups(usize::MAX)),
        &["conv_transpose2d", "overflows"],
    );
    msg_has(
        || ct(&[1, 1, 4, 4], &[1, 1, 3, 3], d.with_stride(usize::MAX, 1)),
        &["conv_transpose2d", "stride", "too large"],
    );
    msg_has(
        || {
            ct(&[1, 1, 4], &[1, 1, 3, 3], d)
                .map(|t| t.shape().to_vec())
                .and(ct(&[1, 1], &[1, 1, 3, 3], d))
        },
        &["conv_transpose2d", "[1, 1]", "rank"],
    );
    msg_has(
        || f32s(&[1, 2, 4, 4]).conv_transpose2d(&f32s(&[2, 3, 3, 3]), Some(&f32s(&[2])), d),
        &["conv_transpose2d", "bias [2]", "[3]"],
    );
}

#[test]
fn conv1d_errors_name_the_op_and_the_callers_shapes() {
    let d = Conv1dOptions::default();
    msg_has(
        || f32s(&[2, 3, 9]).conv1d(&f32s(&[4, 2, 3]), None, d),
        &["conv1d", "[2, 3, 9]", "[4, 2, 3]", "3 channels"],
    );
    msg_has(
        || f32s(&[2, 3, 9]).conv1d(&f32s(&[4, 3, 3, 1]), None, d),
        &["conv1d", "[4, 3, 3, 1]", "rank 3"],
    );
    msg_has(
        || f32s(&[2, 3, 2]).conv1d(&f32s(&[4, 3, 3]), None, d),
        &["conv1d", "[2, 3, 2]", "larger than the padded input"],
    );
    msg_has(
        || f32s(&[2, 3, 9]).conv1d(&f32s(&[4, 3, 3]), None, d.with_stride(0)),
        &["conv1d", "[2, 3, 9]", "stride 0 must"],
    );
}

// ---------- pooling ----------

#[test]
fn pooling_errors_name_the_op_and_shapes() {
    let x = f32s(&[1, 2, 5, 5]);
    let m = MaxPool2dOptions::new;
    msg_has(
        || x.max_pool2d(m(0, 2)),
        &["max_pool2d", "[1, 2, 5, 5]", "kernel size (0, 2)"],
    );
    msg_has(
        || x.max_pool2d(m(2, 2).with_stride(2, 0)),
        &["max_pool2d", "[1, 2, 5, 5]", "stride (2, 0)"],
    );
    msg_has(
        || x.max_pool2d(m(2, 2).with_dilation(0, 1)),
        &["max_pool2d", "[1, 2, 5, 5]", "dilation (0, 1)"],
    );
    // padding above half the kernel (PyTorch's rule)
    msg_has(
        || x.max_pool2d(m(3, 3).with_padding(2, 1)),
        &[
            "max_pool2d",
            "[1, 2, 5, 5]",
            "padding (2, 1)",
            "half the kernel size (3, 3)",
        ],
    );
    msg_has(
        || x.max_pool2d(m(2, 2).with_stride(usize::MAX, 1)),
        &["max_pool2d", "[1, 2, 5, 5]", "too large"],
    );
    msg_has(
        || x.max_pool2d(m(6, 2)),
        &["max_pool2d", "[1, 2, 5, 5]", "too small"],
    );
    msg_has(
        || f32s(&[5, 5]).max_pool2d(m(2, 2)),
        &["max_pool2d", "[5, 5]", "rank"],
    );
    msg_has(
        || i64s(&[0; 4], &[1, 1, 2, 2]).max_pool2d(m(2, 2)),
        &["max_pool2d", "i64"],
    );
    msg_has(
        || {
            f32s(&[1, 2, 5])
                .max_pool1d(MaxPool1dOptions::new(2))
                .and(f32s(&[1, 2, 5, 5]).max_pool1d(MaxPool1dOptions::new(2)))
        },
        &["max_pool1d", "[1, 2, 5, 5]", "rank 3"],
    );
    let a = AvgPool2dOptions::new;
    msg_has(
        || x.avg_pool2d(a(2, 2).with_padding(0, 2)),
        &["avg_pool2d", "[1, 2, 5, 5]", "padding (0, 2)"],
    );
    msg_has(
        || x.avg_pool2d(a(2, 2).with_stride(0, 0)),
        &["avg_pool2d", "stride (0, 0)"],
    );
    msg_has(
        || x.avg_pool2d(a(2, 7)),
        &["avg_pool2d", "[1, 2, 5, 5]", "too small"],
    );
    msg_has(
        || {
            f32s(&[1, 2, 5]).avg_pool1d(AvgPool1dOptions {
                padding: 2,
                ..AvgPool1dOptions::new(2)
            })
        },
        &[
            "avg_pool1d",
            "[1, 2, 5]",
            "padding 2",
            "half the kernel size 2",
        ],
    );
    msg_has(
        || f32s(&[2, 5]).adaptive_avg_pool2d((2, 2)),
        &["adaptive_avg_pool2d", "[2, 5]", "rank"],
    );
    msg_has(
        || f32s(&[1, 1, 0, 3]).adaptive_avg_pool2d((2, 2)),
        &["adaptive_avg_pool2d", "[1, 1, 0, 3]", "empty"],
    );
}

#[test]
fn batch_norm_errors_name_the_op_and_shapes() {
    let x = Tensor::ones(&[4, 3, 2, 2], DType::F32);
    let w = Tensor::ones(&[3], DType::F32);
    msg_has(
        || Tensor::ones(&[4], DType::F32).batch_norm_train(None, None, 1e-5),
        &["batch_norm", "[N, C, ...]", "[4]"],
    );
    msg_has(
        || x.batch_norm_train(Some(&Tensor::ones(&[4], DType::F32)), None, 1e-5),
        &["batch_norm", "weight must be [3]", "[4]"],
    );
    msg_has(
        || x.batch_norm_train(Some(&w), Some(&Tensor::ones(&[2, 3], DType::F32)), 1e-5),
        &["batch_norm", "bias must be [3]"],
    );
    msg_has(
        || x.batch_norm_train(Some(&Tensor::ones(&[3], DType::F64)), None, 1e-5),
        &["batch_norm"],
    );
    msg_has(
        || Tensor::ones(&[4, 3], DType::I64).batch_norm_train(None, None, 1e-5),
        &["batch_norm"],
    );
    msg_has(
        || Tensor::ones(&[0, 3, 2], DType::F32).batch_norm_train(None, None, 1e-5),
        &["batch_norm", "no values per channel"],
    );
}
