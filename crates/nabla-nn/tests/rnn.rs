//! Recurrent layers and cells: values and gradients against PyTorch, finite-difference
//! gradchecks in f64 (every layer kind, both directions, stacked layers, initial states,
//! batch_first both ways, the cells), and errors for inputs and states that do not fit.

#[path = "rnn_golden/values.rs"]
#[rustfmt::skip]
mod golden;

use nabla_core::{DType, GradcheckOptions, Mt19937, Result, RnnNonlinearity, Tensor, Var};
use nabla_nn::{
    cast_module, gradcheck_module, ForwardCtx, Gru, GruCell, Linear, Lstm, LstmCell, Module, Rnn,
    RnnCell, RnnOptions, RnnState, Sequential,
};

mod common;
use common::train_forward;

fn rng() -> Mt19937 {
    Mt19937::new(11)
}

fn fill(shape: &[usize], f: impl Fn(usize) -> f64) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(f).collect::<Vec<f64>>(), shape).unwrap()
}

/// The formulas of scripts/rnn_golden.py: parameters, input, initial states.
fn setup(m: &dyn Module) {
    cast_module(m, DType::F64).unwrap();
    for (j, (_, p)) in m.parameters().iter().enumerate() {
        let t = fill(&p.shape(), |k| {
            0.5 * (1.3 * k as f64 + 0.7 * j as f64 + 0.1).sin()
        });
        p.set(&t).unwrap();
    }
}

fn input(shape: &[usize]) -> Tensor {
    fill(shape, |k| (0.9 * k as f64 + 0.2).cos())
}

fn state(shape: &[usize], s: f64) -> Tensor {
    fill(shape, |k| 0.4 * (0.5 * k as f64 + s).sin())
}

fn close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs PyTorch {b}"
        );
    }
}

/// PyTorch's numbers for one layer or cell (from `golden`): the parameter names, the output,
/// h_n, c_n (LSTMs only) and every parameter's gradient.
type Golden = (
    &'static [&'static str],
    &'static [f64],
    &'static [f64],
    Option<&'static [f64]>,
    &'static [&'static [f64]],
);

/// Runs the golden check: forward, the loss of the script, and every parameter's gradient.
fn check_golden(m: &dyn Module, y: &Tensor, st: &RnnState, golden: Golden) {
    let (names, want_y, want_h, want_c, want_grads) = golden;
    let got_names: Vec<String> = m.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(got_names, names, "state_dict names");
    close(&y.to_vec_f64(), want_y, "output");
    close(&st.h.to_vec_f64(), want_h, "h_n");
    let w = fill(y.shape(), |k| (0.3 * k as f64).cos());
    let mut loss = y
        .mul(&w)
        .unwrap()
        .sum()
        .unwrap()
        .add(&st.h.sum().unwrap())
        .unwrap();
    if let Some(wc) = want_c {
        let c = st.c.as_ref().expect("c_n");
        close(&c.to_vec_f64(), wc, "c_n");
        loss = loss.add(&c.sum().unwrap()).unwrap();
    }
    let g = loss.backward().unwrap();
    for ((name, p), want) in m.parameters().iter().zip(want_grads) {
        let got = p.grad(&g).map(|t| t.to_vec_f64()).unwrap_or_default();
        close(&got, want, &format!("grad of {name}"));
    }
}

#[test]
fn lstm_two_layers_bidirectional_with_state_matches_pytorch() {
    let m = Lstm::with_options(
        3,
        2,
        RnnOptions::default()
            .with_num_layers(2)
            .with_bidirectional(true),
        &mut rng(),
    )
    .unwrap();
    setup(&m);
    let s = RnnState::lstm(state(&[4, 2, 2], 0.3), state(&[4, 2, 2], 1.1));
    let (y, st) = m
        .forward_with_state(&input(&[3, 2, 3]), Some(&s), &mut ForwardCtx::eval())
        .unwrap();
    assert_eq!(y.shape(), &[3, 2, 4]);
    use golden::*;
    let want = (LSTM_NAMES, LSTM_Y, LSTM_H, Some(LSTM_C), LSTM_GRADS);
    check_golden(&m, &y, &st, want);
}

#[test]
fn gru_bidirectional_batch_first_with_state_matches_pytorch() {
    let opts = RnnOptions::default()
        .with_bidirectional(true)
        .with_batch_first(true);
    let m = Gru::with_options(3, 2, opts, &mut rng()).unwrap();
    setup(&m);
    let s = RnnState::new(state(&[2, 2, 2], 0.3));
    let (y, st) = m
        .forward_with_state(&input(&[2, 3, 3]), Some(&s), &mut ForwardCtx::eval())
        .unwrap();
    assert_eq!(y.shape(), &[2, 3, 4]);
    use golden::*;
    let want = (GRU_NAMES, GRU_Y, GRU_H, None, GRU_GRADS);
    check_golden(&m, &y, &st, want);
}

#[test]
fn rnn_relu_and_tanh_match_pytorch() {
    let opts = RnnOptions::default().with_num_layers(2);
    let m = Rnn::with_options(3, 2, RnnNonlinearity::Relu, opts, &mut rng()).unwrap();
    setup(&m);
    let (y, st) = m
        .forward_with_state(&input(&[3, 2, 3]), None, &mut ForwardCtx::eval())
        .unwrap();
    use golden::*;
    let want = (RNN_RELU_NAMES, RNN_RELU_Y, RNN_RELU_H, None, RNN_RELU_GRADS);
    check_golden(&m, &y, &st, want);

    let opts = RnnOptions::default()
        .with_bias(false)
        .with_batch_first(true);
    let m = Rnn::with_options(3, 2, RnnNonlinearity::Tanh, opts, &mut rng()).unwrap();
    setup(&m);
    let s = RnnState::new(state(&[1, 2, 2], 0.3));
    let (y, st) = m
        .forward_with_state(&input(&[2, 3, 3]), Some(&s), &mut ForwardCtx::eval())
        .unwrap();
    let want = (RNN_TANH_NAMES, RNN_TANH_Y, RNN_TANH_H, None, RNN_TANH_GRADS);
    check_golden(&m, &y, &st, want);
}

#[test]
fn cells_match_pytorch() {
    use golden::*;
    let x = input(&[2, 3]);
    let m = LstmCell::new(3, 2, &mut rng()).unwrap();
    setup(&m);
    let s = RnnState::lstm(state(&[2, 2], 0.3), state(&[2, 2], 1.1));
    let st = m.forward_cell(&x, Some(&s)).unwrap();
    let want = (
        LSTM_CELL_NAMES,
        LSTM_CELL_Y,
        LSTM_CELL_H,
        Some(LSTM_CELL_C),
        LSTM_CELL_GRADS,
    );
    check_golden(&m, &st.h, &st, want);

    let s = RnnState::new(state(&[2, 2], 0.3));
    let m = GruCell::new(3, 2, &mut rng()).unwrap();
    setup(&m);
    let st = m.forward_cell(&x, Some(&s)).unwrap();
    let want = (GRU_CELL_NAMES, GRU_CELL_Y, GRU_CELL_H, None, GRU_CELL_GRADS);
    check_golden(&m, &st.h, &st, want);

    let m = RnnCell::with_options(3, 2, RnnNonlinearity::Relu, true, &mut rng()).unwrap();
    setup(&m);
    let st = m.forward_cell(&x, Some(&s)).unwrap();
    let want = (RNN_CELL_NAMES, RNN_CELL_Y, RNN_CELL_H, None, RNN_CELL_GRADS);
    check_golden(&m, &st.h, &st, want);
}

/// How [`WithState`] runs its layer: input and initial state to output and final state.
type RunFn<M> = fn(&M, &Tensor, Option<&RnnState>) -> Result<(Tensor, RnnState)>;

/// A module that runs a recurrent layer from a fixed initial state and returns the output
/// and the final state concatenated, so gradcheck_module sees every path.
struct WithState<M> {
    m: M,
    state: Option<RnnState>,
    run: RunFn<M>,
}

impl<M: Module> Module for WithState<M> {
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let s = self.state.as_ref().map(|s| RnnState {
            h: s.h.to_dtype(x.dtype()).unwrap(),
            c: s.c.as_ref().map(|c| c.to_dtype(x.dtype()).unwrap()),
        });
        let (y, st) = (self.run)(&self.m, x, s.as_ref())?;
        let mut parts = vec![y.flatten_all()?, st.h.flatten_all()?];
        if let Some(c) = st.c {
            parts.push(c.flatten_all()?);
        }
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        self.m.parameters()
    }
}

/// A recurrent layer as a [`WithState`]: `forward_with_state` from the initial state `state`.
macro_rules! layer {
    ($m:expr, $state:expr) => {
        WithState {
            m: $m,
            state: $state,
            run: |m, x, s| m.forward_with_state(x, s, &mut ForwardCtx::eval()),
        }
    };
}

/// A cell as a [`WithState`] from the state `state`: a zero that keeps the input in the
/// graph (a cell's output is its new state alone), then the new state.
macro_rules! cell {
    ($m:expr, $state:expr) => {
        WithState {
            m: $m,
            state: Some($state),
            run: |m, x, s| {
                Ok((
                    x.sum()?.mul_scalar(0.0)?.reshape(&[1])?,
                    m.forward_cell(x, s)?,
                ))
            },
        }
    };
}

fn gradcheck_all(m: &dyn Module, x: &Tensor) {
    let weights = |y: &Tensor| -> Result<Tensor> {
        let w = fill(y.shape(), |k| 0.5 + ((k * 7) % 11) as f64 / 11.0);
        y.mul(&w)?.sum()
    };
    let checks = gradcheck_module(m, x, &weights, GradcheckOptions::default(), 1000).unwrap();
    assert!(!checks.is_empty());
    for c in checks {
        assert!(c.passed, "{}: {c:?}", c.name);
    }
}

#[test]
fn gradcheck_every_layer_kind_both_directions_two_layers() {
    let opts = RnnOptions::default()
        .with_num_layers(2)
        .with_bidirectional(true);
    let x = input(&[3, 2, 3]);
    let h = state(&[4, 2, 2], 0.3);
    let c = state(&[4, 2, 2], 1.1);
    let lstm = layer!(
        Lstm::with_options(3, 2, opts, &mut rng()).unwrap(),
        Some(RnnState::lstm(h.clone(), c))
    );
    gradcheck_all(&lstm, &x);
    let gru = layer!(
        Gru::with_options(3, 2, opts, &mut rng()).unwrap(),
        Some(RnnState::new(h.clone()))
    );
    gradcheck_all(&gru, &x);
    for nl in [RnnNonlinearity::Tanh, RnnNonlinearity::Relu] {
        let rnn = layer!(
            Rnn::with_options(3, 2, nl, opts, &mut rng()).unwrap(),
            Some(RnnState::new(h.clone()))
        );
        gradcheck_all(&rnn, &x);
    }
}

#[test]
fn gradcheck_batch_first_without_state_and_without_bias() {
    for batch_first in [false, true] {
        let opts = RnnOptions::default()
            .with_batch_first(batch_first)
            .with_bias(batch_first);
        let x = input(&[2, 4, 3]);
        let m = layer!(Lstm::with_options(3, 3, opts, &mut rng()).unwrap(), None);
        gradcheck_all(&m, &x);
        let m = layer!(
            Gru::with_options(3, 3, opts.with_bidirectional(true), &mut rng()).unwrap(),
            None
        );
        gradcheck_all(&m, &x);
    }
}

#[test]
fn gradcheck_the_cells() {
    let x = input(&[2, 3]);
    let h = state(&[2, 4], 0.3);
    let c = state(&[2, 4], 1.1);
    let m = cell!(
        LstmCell::new(3, 4, &mut rng()).unwrap(),
        RnnState::lstm(h.clone(), c)
    );
    gradcheck_all(&m, &x);
    let m = cell!(
        GruCell::new(3, 4, &mut rng()).unwrap(),
        RnnState::new(h.clone())
    );
    gradcheck_all(&m, &x);
    let m = cell!(RnnCell::new(3, 4, &mut rng()).unwrap(), RnnState::new(h));
    gradcheck_all(&m, &x);
}

/// The gradient with respect to the input sequence too (through every step and layer).
#[test]
fn gradcheck_with_respect_to_the_input() {
    let m = Lstm::with_options(
        2,
        2,
        RnnOptions::default()
            .with_num_layers(2)
            .with_bidirectional(true)
            .with_batch_first(true),
        &mut rng(),
    )
    .unwrap();
    cast_module(&m, DType::F64).unwrap();
    let f = |xs: &[Tensor]| -> Result<Tensor> {
        let (y, s) = m.forward_with_state(&xs[0], None, &mut ForwardCtx::eval())?;
        y.sum()?.add(&s.c.unwrap().sqr()?.sum()?)
    };
    let rep = nabla_core::gradcheck(f, &[input(&[2, 3, 2])], GradcheckOptions::default()).unwrap();
    assert!(rep.passed(), "{rep}");
}

#[test]
fn modules_in_a_sequential_map_sequences_to_sequences() {
    let mut r = rng();
    let net = Sequential::new()
        .append(
            Lstm::with_options(4, 6, RnnOptions::default().with_bidirectional(true), &mut r)
                .unwrap(),
        )
        .append(Gru::new(12, 5, &mut r).unwrap())
        .append(Linear::new(5, 3, &mut r).unwrap());
    assert_eq!(net.output_shape(&[7, 2, 4]).unwrap(), vec![7, 2, 3]);
    let y = net
        .forward(
            &Tensor::ones(&[7, 2, 4], DType::F32),
            &mut ForwardCtx::eval(),
        )
        .unwrap();
    assert_eq!(y.shape(), &[7, 2, 3]);
    let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "0.weight_ih_l0");
    assert_eq!(names[4], "0.weight_ih_l0_reverse");
    assert_eq!(names[8], "1.weight_ih_l0");
    assert_eq!(net.layers()[0].kind(), "LSTM");
    assert_eq!(net.layers()[0].describe(), "4, 6, bidirectional=True");
}

#[test]
fn init_is_uniform_within_one_over_sqrt_hidden() {
    let m =
        Lstm::with_options(5, 16, RnnOptions::default().with_num_layers(2), &mut rng()).unwrap();
    let bound = 1.0 / 4.0;
    let shapes: Vec<Vec<usize>> = m.parameters().iter().map(|(_, p)| p.shape()).collect();
    assert_eq!(shapes[0], vec![64, 5]);
    assert_eq!(shapes[1], vec![64, 16]);
    assert_eq!(shapes[2], vec![64]);
    assert_eq!(shapes[4], vec![64, 16]); // weight_ih_l1 reads the first layer's output
    for (name, p) in m.parameters() {
        let v = p.as_tensor().to_vec_f64();
        let max = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        assert!(max <= bound && max > 0.8 * bound, "{name}: max |w| {max}");
    }
    assert_eq!(
        Gru::new(3, 4, &mut rng()).unwrap().parameters()[0]
            .1
            .shape(),
        vec![12, 3]
    );
    assert_eq!(
        Rnn::new(3, 4, &mut rng()).unwrap().parameters()[1]
            .1
            .shape(),
        vec![4, 4]
    );
}

#[test]
fn dropout_between_layers_only_in_training() {
    let opts = RnnOptions::default().with_num_layers(2).with_dropout(0.5);
    let m = Gru::with_options(3, 8, opts, &mut rng()).unwrap();
    let x = Tensor::ones(&[4, 2, 3], DType::F32);
    let a = m.forward(&x, &mut ForwardCtx::eval()).unwrap().to_vec_f64();
    let b = m.forward(&x, &mut ForwardCtx::eval()).unwrap().to_vec_f64();
    assert_eq!(a, b, "evaluation is deterministic");
    let t1 = train_forward(&m, &x, 5);
    let t2 = train_forward(&m, &x, 5);
    assert_eq!(t1, t2, "the same stream gives the same masks");
    assert_ne!(t1, a, "training applies dropout");
    // one layer: dropout (after the last layer) does nothing, and needs no stream
    let one = Gru::with_options(3, 8, RnnOptions::default().with_dropout(0.5), &mut rng()).unwrap();
    let mut r = Mt19937::new(1);
    let y1 = one.forward(&x, &mut ForwardCtx::train(&mut r)).unwrap();
    let y2 = one.forward(&x, &mut ForwardCtx::eval()).unwrap();
    assert_eq!(y1.to_vec_f64(), y2.to_vec_f64());
    assert!(Gru::with_options(3, 8, RnnOptions::default().with_dropout(1.0), &mut rng()).is_err());
    assert!(
        Lstm::with_options(3, 8, RnnOptions::default().with_num_layers(0), &mut rng()).is_err()
    );
    assert!(Lstm::new(3, 0, &mut rng()).is_err());
}

#[test]
fn state_carries_over_between_calls_like_one_long_sequence() {
    let m = Lstm::new(3, 4, &mut rng()).unwrap();
    cast_module(&m, DType::F64).unwrap();
    let x = input(&[6, 2, 3]);
    let (whole, s_whole) = m
        .forward_with_state(&x, None, &mut ForwardCtx::eval())
        .unwrap();
    let (a, s) = m
        .forward_with_state(&x.narrow(0, 0, 2).unwrap(), None, &mut ForwardCtx::eval())
        .unwrap();
    let (b, s2) = m
        .forward_with_state(
            &x.narrow(0, 2, 4).unwrap(),
            Some(&s.detach()),
            &mut ForwardCtx::eval(),
        )
        .unwrap();
    let joined = Tensor::cat(&[&a, &b], 0).unwrap();
    close(&joined.to_vec_f64(), &whole.to_vec_f64(), "two halves");
    close(&s2.h.to_vec_f64(), &s_whole.h.to_vec_f64(), "h_n");
    close(
        &s2.c.unwrap().to_vec_f64(),
        &s_whole.c.unwrap().to_vec_f64(),
        "c_n",
    );
}

/// `r` is an error whose message contains every one of `parts`.
#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: Result<T>, parts: &[&str]) {
    let e = r.expect_err("expected an error").to_string();
    for p in parts {
        assert!(e.contains(p), "{e}");
    }
}

#[test]
fn inputs_and_states_that_do_not_fit_are_errors_naming_the_layer_and_shapes() {
    let m = Lstm::with_options(3, 2, RnnOptions::default().with_num_layers(2), &mut rng()).unwrap();
    let ev = || ForwardCtx::eval();
    let x = Tensor::zeros(&[5, 4, 3], DType::F32);
    let z = |s: &[usize]| Tensor::zeros(s, DType::F32);
    assert_err(
        m.forward_with_state(&z(&[5, 3]), None, &mut ev()),
        &["LSTM(3, 2)", "[5, 3]", "rank 3"],
    );
    assert_err(
        m.forward_with_state(&z(&[5, 4, 7]), None, &mut ev()),
        &["LSTM(3, 2)", "[5, 4, 7]", "7 features"],
    );
    assert_err(
        m.forward_with_state(&z(&[0, 4, 3]), None, &mut ev()),
        &["LSTM(3, 2)", "empty"],
    );
    let s = RnnState::lstm(z(&[1, 4, 2]), z(&[2, 4, 2]));
    assert_err(
        m.forward_with_state(&x, Some(&s), &mut ev()),
        &["LSTM(3, 2)", "h [1, 4, 2]", "[2, 4, 2]"],
    );
    let s = RnnState::lstm(z(&[2, 4, 2]), z(&[2, 5, 2]));
    assert_err(
        m.forward_with_state(&x, Some(&s), &mut ev()),
        &["c [2, 5, 2]"],
    );
    assert_err(
        m.forward_with_state(&x, Some(&RnnState::new(z(&[2, 4, 2]))), &mut ev()),
        &["no cell state"],
    );
    let g = Gru::new(3, 2, &mut rng()).unwrap();
    assert_err(
        g.forward_with_state(
            &x,
            Some(&RnnState::lstm(z(&[1, 4, 2]), z(&[1, 4, 2]))),
            &mut ev(),
        ),
        &["GRU(3, 2)", "only an LSTM"],
    );
    // batch_first: the message says which layout is expected
    let bf = Rnn::with_options(
        3,
        2,
        RnnNonlinearity::Tanh,
        RnnOptions::default().with_batch_first(true),
        &mut rng(),
    )
    .unwrap();
    assert_err(
        bf.output_shape(&[2, 5, 4]),
        &["RNN(3, 2)", "[N, T, features]"],
    );
    // inside a Sequential the error names the layer index too
    let net = Sequential::new().append(Gru::new(3, 2, &mut rng()).unwrap());
    assert_err(
        net.forward(&z(&[2, 2, 2]), &mut ev()),
        &["layer 0 (GRU)", "GRU(3, 2)"],
    );
    // dtype mismatch between input and weights is an error too, not a panic
    let e = g
        .forward(&Tensor::zeros(&[2, 2, 3], DType::F64), &mut ev())
        .unwrap_err();
    assert!(
        e.to_string().contains("f64") || e.to_string().contains("f32"),
        "{e}"
    );
}

#[test]
fn cell_errors_name_the_cell_and_shapes() {
    let c = LstmCell::new(3, 2, &mut rng()).unwrap();
    let z = |s: &[usize]| Tensor::zeros(s, DType::F32);
    assert_err(
        c.forward_cell(&z(&[4, 5]), None),
        &["LSTMCell(3, 2)", "[4, 5]"],
    );
    assert_err(
        c.forward_cell(&z(&[2, 3, 1]), None),
        &["LSTMCell(3, 2)", "[2, 3, 1]"],
    );
    assert_err(
        c.forward_cell(&z(&[4, 3]), Some(&RnnState::lstm(z(&[4, 3]), z(&[4, 2])))),
        &["h [4, 3]", "[4, 2]"],
    );
    assert_err(
        c.forward_cell(&z(&[4, 3]), Some(&RnnState::new(z(&[4, 2])))),
        &["no cell state"],
    );
    let g = GruCell::new(3, 2, &mut rng()).unwrap();
    assert_err(
        g.forward_cell(&z(&[4, 3]), Some(&RnnState::new(z(&[3, 2])))),
        &["GRUCell(3, 2)", "h [3, 2]"],
    );
    assert_eq!(g.output_shape(&[4, 3]).unwrap(), vec![4, 2]);
    assert!(RnnCell::new(3, 2, &mut rng())
        .unwrap()
        .output_shape(&[4])
        .is_err());
}

/// An Embedding followed by a recurrent layer in a `Sequential` runs fused (the input
/// projection over the table's rows, then picked by index): outputs and every gradient match
/// the layers run one by one, for each layer kind, both layouts, two layers and two
/// directions; a bad index is still an error.
#[test]
fn embedding_then_recurrent_runs_fused_with_the_same_values_and_gradients() {
    use nabla_nn::Embedding;
    for (kind, batch_first, layers, bidi) in [
        ("lstm", true, 1, false),
        ("lstm", false, 2, true),
        ("gru", true, 1, true),
        ("rnn", false, 2, false),
    ] {
        let r = &mut rng();
        let opts = RnnOptions::default()
            .with_batch_first(batch_first)
            .with_num_layers(layers)
            .with_bidirectional(bidi);
        let rec: Box<dyn Module> = match kind {
            "lstm" => Box::new(Lstm::with_options(5, 7, opts, r).unwrap()),
            "gru" => Box::new(Gru::with_options(5, 7, opts, r).unwrap()),
            _ => Box::new(Rnn::with_options(5, 7, RnnNonlinearity::Tanh, opts, r).unwrap()),
        };
        let mut net = Sequential::new();
        net.push(Box::new(Embedding::new(11, 5, r).unwrap()));
        net.push(rec);
        let ids: Vec<i64> = (0..3 * 4).map(|i| (i * 7 % 11) as i64).collect();
        let idx = Tensor::from_vec(ids, &[3, 4]).unwrap();
        let fused = net.forward(&idx, &mut ForwardCtx::eval()).unwrap();
        let mut ctx = ForwardCtx::eval();
        let rows = net.layers()[0].forward(&idx, &mut ctx).unwrap();
        let plain = net.layers()[1].forward(&rows, &mut ctx).unwrap();
        assert_eq!(fused.shape(), plain.shape(), "{kind}");
        let w = fill(fused.shape(), |i| ((i * 13 % 7) as f64 - 3.0) * 0.25)
            .to_dtype(DType::F32)
            .unwrap();
        let gf = fused.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        let gp = plain.mul(&w).unwrap().sum().unwrap().backward().unwrap();
        let close = |a: &Tensor, b: &Tensor, what: &str| {
            for (x, y) in a.to_vec_f64().iter().zip(b.to_vec_f64()) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "{kind} {what}: {x} vs {y}"
                );
            }
        };
        close(&fused, &plain, "output");
        for (name, v) in net.parameters() {
            close(v.grad(&gf).unwrap(), v.grad(&gp).unwrap(), &name);
        }
        let bad = Tensor::from_vec(vec![0i64, 11, 2, 3], &[2, 2]).unwrap();
        let e = net.forward(&bad, &mut ForwardCtx::eval()).unwrap_err();
        assert!(e.to_string().contains("11"), "{e}");
    }
}
