//! Recurrent layers over whole sequences: [`Rnn`], [`Lstm`] and [`Gru`], with PyTorch's
//! options, initialization, gate order and `state_dict` names.
//!
//! Per layer and direction the input projections of all steps are one product
//! (`[T*N, I] · [I, G*H]`); the recurrence is one primitive scan op of nabla-core
//! ([`Tensor::lstm_scan`], [`Tensor::gru_scan`], [`Tensor::rnn_scan`]) that runs only the
//! `[N, H] · [H, G*H]` product and a fused gate pass per step, and whose backward computes the
//! recurrent weight gradient as one product over the whole sequence.

use crate::dropout::Dropout;
use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{DType, Error, Mt19937, Result, RnnNonlinearity, Tensor, Var};

/// Options of a recurrent layer, PyTorch's keyword arguments with its defaults: one layer,
/// one direction, no dropout, time-major input (`[T, N, I]`), biases.
///
/// ```
/// use nabla_nn::RnnOptions;
/// let o = RnnOptions::default().with_num_layers(2).with_bidirectional(true).with_batch_first(true);
/// assert_eq!((o.num_layers, o.bidirectional, o.batch_first, o.bias), (2, true, true, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RnnOptions {
    /// Stacked layers (at least 1); layer `k > 0` reads the output of layer `k - 1`.
    pub num_layers: usize,
    /// Whether each layer also runs backward in time; the outputs of both directions are
    /// concatenated on the feature dim, `[forward, backward]`.
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last, in training only
    /// (`0 <= dropout < 1`).
    pub dropout: f64,
    /// Whether input and output are `[N, T, features]` instead of `[T, N, features]` (the
    /// state stays `[layers * directions, N, H]`, as in PyTorch).
    pub batch_first: bool,
    /// Whether the layer has `bias_ih` and `bias_hh`.
    pub bias: bool,
}

impl Default for RnnOptions {
    fn default() -> Self {
        RnnOptions {
            num_layers: 1,
            bidirectional: false,
            dropout: 0.0,
            batch_first: false,
            bias: true,
        }
    }
}

impl RnnOptions {
    /// Sets [`RnnOptions::num_layers`].
    pub fn with_num_layers(mut self, v: usize) -> Self {
        self.num_layers = v;
        self
    }
    /// Sets [`RnnOptions::bidirectional`].
    pub fn with_bidirectional(mut self, v: bool) -> Self {
        self.bidirectional = v;
        self
    }
    /// Sets [`RnnOptions::dropout`].
    pub fn with_dropout(mut self, v: f64) -> Self {
        self.dropout = v;
        self
    }
    /// Sets [`RnnOptions::batch_first`].
    pub fn with_batch_first(mut self, v: bool) -> Self {
        self.batch_first = v;
        self
    }
    /// Sets [`RnnOptions::bias`].
    pub fn with_bias(mut self, v: bool) -> Self {
        self.bias = v;
        self
    }
    /// 2 when bidirectional, else 1.
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// The state of a recurrent layer, PyTorch's `h_n` (and `c_n` for an LSTM): `h` is
/// `[num_layers * num_directions, N, H]`, index `layer * num_directions + direction`
/// (direction 1 is the backward one). For the cells ([`crate::LstmCell`], ...) `h` and `c`
/// are `[N, H]`.
#[derive(Debug, Clone)]
pub struct RnnState {
    /// The hidden state.
    pub h: Tensor,
    /// The cell state (LSTM only).
    pub c: Option<Tensor>,
}

impl RnnState {
    /// A state of an RNN or GRU.
    pub fn new(h: Tensor) -> Self {
        RnnState { h, c: None }
    }
    /// A state of an LSTM: hidden `h` and cell `c`, of the same shape.
    pub fn lstm(h: Tensor, c: Tensor) -> Self {
        RnnState { h, c: Some(c) }
    }
    /// The same values cut from the graph, to carry a state across batches without
    /// backpropagating into the previous one (truncated backpropagation through time).
    pub fn detach(&self) -> Self {
        RnnState {
            h: self.h.detach(),
            c: self.c.as_ref().map(Tensor::detach),
        }
    }
}

/// Which cell a recurrent layer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rnn(RnnNonlinearity),
    Lstm,
    Gru,
}

impl Kind {
    pub(crate) fn gates(self) -> usize {
        match self {
            Kind::Rnn(_) => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }
    pub(crate) fn torch_name(self) -> &'static str {
        match self {
            Kind::Rnn(_) => "RNN",
            Kind::Lstm => "LSTM",
            Kind::Gru => "GRU",
        }
    }
}

/// The weights of one layer and direction (PyTorch's layouts).
pub(crate) struct DirWeights {
    /// `[G*H, I]`
    pub(crate) w_ih: Var,
    /// `[G*H, H]`
    pub(crate) w_hh: Var,
    /// `[G*H]`
    pub(crate) b_ih: Option<Var>,
    /// `[G*H]`
    pub(crate) b_hh: Option<Var>,
}

impl DirWeights {
    /// Weights uniform in ±1/√hidden, drawn in PyTorch's order (w_ih, w_hh, b_ih, b_hh).
    pub(crate) fn new(
        kind: Kind,
        input: usize,
        hidden: usize,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let k = 1.0 / (hidden as f64).sqrt();
        let gh = kind.gates() * hidden;
        let mut u = |shape: &[usize]| -> Result<Var> {
            Ok(Var::new(&Tensor::uniform(shape, -k, k, DType::F32, rng)?))
        };
        let w_ih = u(&[gh, input])?;
        let w_hh = u(&[gh, hidden])?;
        let (b_ih, b_hh) = if bias {
            (Some(u(&[gh])?), Some(u(&[gh])?))
        } else {
            (None, None)
        };
        Ok(DirWeights {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
        })
    }

    /// The parameters with PyTorch's names for this suffix (`_l0`, `_l1_reverse`, or `""`).
    pub(crate) fn named(&self, suffix: &str) -> Vec<(String, Var)> {
        let mut v = vec![
            (format!("weight_ih{suffix}"), self.w_ih.clone()),
            (format!("weight_hh{suffix}"), self.w_hh.clone()),
        ];
        if let (Some(bi), Some(bh)) = (&self.b_ih, &self.b_hh) {
            v.push((format!("bias_ih{suffix}"), bi.clone()));
            v.push((format!("bias_hh{suffix}"), bh.clone()));
        }
        v
    }

    /// The input projections of all steps: `x` `[T*N, I]` → `[T, N, G*H]`, one product.
    pub(crate) fn project(&self, x: &Tensor, t: usize, n: usize) -> Result<Tensor> {
        let gx = self.project_rows(x)?;
        let gh = gx.shape()[1];
        gx.reshape(&[t, n, gh])
    }

    /// `x W_ihᵀ + b_ih` for rows `x` `[R, I]`: `[R, G*H]`.
    fn project_rows(&self, x: &Tensor) -> Result<Tensor> {
        let gx = x.matmul(&self.w_ih.as_tensor().t()?)?;
        match &self.b_ih {
            Some(b) => gx.add(&b.as_tensor()),
            None => Ok(gx),
        }
    }

    /// The projections of the first layer's input, `[T, N, G*H]`.
    fn project_input(&self, input: &StackInput<'_>, t: usize, n: usize) -> Result<Tensor> {
        match input {
            StackInput::Seq(x) => {
                let feat = x.shape()[2];
                self.project(&x.reshape(&[t * n, feat])?, t, n)
            }
            // the table's rows projected once, then picked: (E W_ihᵀ + b)[idx] is E[idx] W_ihᵀ
            // + b row by row, with V rows of products instead of T*N
            StackInput::Lookup { table, idx } => {
                let gx = self.project_rows(table)?.index_select(0, idx)?;
                let gh = gx.shape()[1];
                gx.reshape(&[t, n, gh])
            }
        }
    }

    /// An LSTM direction's output `[T, N, H]` over the rows of an embedding `table` picked by
    /// `idx` `[T, N]`: the table's rows are projected, and the scan reads each step's rows
    /// from the projected table ([`Tensor::lstm_scan_rows`]), so the `[T, N, 4H]` of picked
    /// projections is never written.
    pub(crate) fn scan_rows(
        &self,
        table: &Tensor,
        idx: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
        reverse: bool,
    ) -> Result<Tensor> {
        let w = self.w_hh.as_tensor();
        let b = self.b_hh.as_ref().map(Var::as_tensor);
        self.project_rows(table)?.lstm_scan_rows(
            idx,
            &w,
            b.as_ref(),
            h0,
            &c0_or_zeros(c0, h0),
            reverse,
        )
    }

    /// The scan of one direction over the projections `gx` `[T, N, G*H]`: returns the outputs
    /// `[T, N, H]` and, for an LSTM with `cells`, the cell states `[T, N, H]` (without, the
    /// LSTM's output is h alone: [`Tensor::lstm_scan_h`]).
    pub(crate) fn scan(
        &self,
        kind: Kind,
        gx: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
        reverse: bool,
        cells: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let w = self.w_hh.as_tensor();
        let b = self.b_hh.as_ref().map(Var::as_tensor);
        match kind {
            Kind::Rnn(nl) => Ok((gx.rnn_scan(&w, b.as_ref(), h0, nl, reverse)?, None)),
            Kind::Gru => Ok((gx.gru_scan(&w, b.as_ref(), h0, reverse)?, None)),
            Kind::Lstm => {
                let c0 = &c0_or_zeros(c0, h0);
                if !cells {
                    return Ok((gx.lstm_scan_h(&w, b.as_ref(), h0, c0, reverse)?, None));
                }
                let out = gx.lstm_scan(&w, b.as_ref(), h0, c0, reverse)?;
                let s = out.shape()[1..].to_vec();
                Ok((
                    out.narrow(0, 0, 1)?.reshape(&s)?,
                    Some(out.narrow(0, 1, 1)?.reshape(&s)?),
                ))
            }
        }
    }
}

/// An LSTM's initial cell state: `c0`, or zeros shaped as `h0`.
fn c0_or_zeros(c0: Option<&Tensor>, h0: &Tensor) -> Tensor {
    c0.cloned().unwrap_or_else(|| h0.zeros_like())
}

/// The input of a stack's first layer: a sequence of feature vectors, or the rows of an
/// embedding table picked by indices (time-major inside the stack). The second form lets the
/// input projection run over the table's V rows and be picked afterwards: for a char-LM
/// (V = 65, T*N = 2048) that removes a fifth of a training step's multiply-adds and gives the
/// same function (the backward sums the picked rows' gradients per table row first).
pub(crate) enum StackInput<'a, X = Tensor> {
    Seq(X),
    Lookup { table: &'a Tensor, idx: X },
}

/// A stack of recurrent layers: what [`Rnn`], [`Lstm`] and [`Gru`] share.
pub(crate) struct Stack {
    kind: Kind,
    input_size: usize,
    hidden: usize,
    opts: RnnOptions,
    /// Index `layer * num_directions + direction`.
    dirs: Vec<DirWeights>,
}

impl Stack {
    fn new(
        kind: Kind,
        input_size: usize,
        hidden: usize,
        opts: RnnOptions,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let bad = |msg: String| Error::Arg {
            op: kind.torch_name(),
            msg,
        };
        if hidden == 0 || input_size == 0 {
            return Err(bad(format!(
                "input_size ({input_size}) and hidden_size ({hidden}) must be at least 1"
            )));
        }
        if opts.num_layers == 0 {
            return Err(bad("num_layers must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&opts.dropout) {
            return Err(bad(format!(
                "dropout must be in [0, 1), got {}",
                opts.dropout
            )));
        }
        let d = opts.num_directions();
        let mut dirs = Vec::with_capacity(opts.num_layers * d);
        for l in 0..opts.num_layers {
            let inp = if l == 0 { input_size } else { hidden * d };
            for _ in 0..d {
                dirs.push(DirWeights::new(kind, inp, hidden, opts.bias, rng)?);
            }
        }
        Ok(Stack {
            kind,
            input_size,
            hidden,
            opts,
            dirs,
        })
    }

    fn label(&self) -> String {
        format!(
            "{}({}, {})",
            self.kind.torch_name(),
            self.input_size,
            self.hidden
        )
    }

    fn layout_hint(&self) -> &'static str {
        if self.opts.batch_first {
            "[N, T, features] (batch_first)"
        } else {
            "[T, N, features] (batch_first = false)"
        }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 3 {
            return Err(misfit(
                &self.label(),
                format!(
                    "input {input:?} must have rank 3, {} with {} features",
                    self.layout_hint(),
                    self.input_size
                ),
            ));
        }
        if input[2] != self.input_size {
            return Err(misfit(
                &self.label(),
                format!(
                    "input {input:?} has {} features, expected {} ({})",
                    input[2],
                    self.input_size,
                    self.layout_hint()
                ),
            ));
        }
        Ok(vec![
            input[0],
            input[1],
            self.hidden * self.opts.num_directions(),
        ])
    }

    fn check_state(&self, state: &RnnState, n: usize) -> Result<()> {
        let want = [
            self.opts.num_layers * self.opts.num_directions(),
            n,
            self.hidden,
        ];
        let bad = |what: &str, got: &[usize]| {
            misfit(
                &self.label(),
                format!(
                    "initial {what} {got:?} must be [num_layers * num_directions, N, hidden] = {want:?}"
                ),
            )
        };
        if state.h.shape() != want {
            return Err(bad("h", state.h.shape()));
        }
        match (&state.c, self.kind) {
            (Some(c), Kind::Lstm) if c.shape() != want => Err(bad("c", c.shape())),
            (None, Kind::Lstm) => Err(misfit(
                &self.label(),
                "the initial state has no cell state c (an LSTM needs both h and c)".into(),
            )),
            (Some(_), Kind::Rnn(_) | Kind::Gru) => Err(misfit(
                &self.label(),
                "the initial state has a cell state c, which only an LSTM has".into(),
            )),
            _ => Ok(()),
        }
    }

    fn forward_with_state(
        &self,
        x: &Tensor,
        state: Option<&RnnState>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<(Tensor, RnnState)> {
        let (y, s) = self.run(StackInput::Seq(x), state, ctx, true)?;
        let s = s.ok_or_else(|| misfit(&self.label(), "no final state".into()))?;
        Ok((y, s))
    }

    /// The output sequence from a zero state, without the final state: an LSTM's scans then
    /// give h alone ([`Tensor::lstm_scan_h`]).
    fn forward_seq(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        Ok(self.run(StackInput::Seq(x), None, ctx, false)?.0)
    }

    /// The forward pass over `table[idx]` (an embedding lookup, `idx` `[N, T]` or `[T, N]` as
    /// the layout says) without materializing the looked-up rows: see [`StackInput`].
    pub(crate) fn forward_lookup(
        &self,
        table: &Tensor,
        idx: &Tensor,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<Tensor> {
        Ok(self
            .run(StackInput::Lookup { table, idx }, None, ctx, false)?
            .0)
    }

    /// The stack over `x` from `state` (zeros when `None`): the output sequence and, with
    /// `want_state`, the final state.
    fn run(
        &self,
        x: StackInput<'_, &Tensor>,
        state: Option<&RnnState>,
        ctx: &mut ForwardCtx<'_>,
        want_state: bool,
    ) -> Result<(Tensor, Option<RnnState>)> {
        let shape = match &x {
            StackInput::Seq(x) => x.shape().to_vec(),
            StackInput::Lookup { table, idx } => {
                let mut s = idx.shape().to_vec();
                s.push(table.shape()[1]);
                s
            }
        };
        self.output_shape(&shape)?;
        let (t, n) = if self.opts.batch_first {
            (shape[1], shape[0])
        } else {
            (shape[0], shape[1])
        };
        if t == 0 {
            return Err(misfit(
                &self.label(),
                format!("the sequence is empty (input {shape:?})"),
            ));
        }
        // time-major from here on
        let tm = |x: &Tensor| -> Result<Tensor> {
            if self.opts.batch_first {
                x.transpose(0, 1)
            } else {
                Ok(x.clone())
            }
        };
        let first = match x {
            StackInput::Seq(x) => StackInput::Seq(tm(x)?),
            StackInput::Lookup { table, idx } => StackInput::Lookup {
                table,
                idx: crate::embedding::flat_indices(&tm(idx)?)?,
            },
        };
        if let Some(s) = state {
            self.check_state(s, n)?;
        }
        let d = self.opts.num_directions();
        let lstm = self.kind == Kind::Lstm;
        // each layer's input: `first`, then the layer below's output
        let mut input = first;
        let (mut hn, mut cn) = (Vec::new(), Vec::new());
        for l in 0..self.opts.num_layers {
            if l > 0 && ctx.training && self.opts.dropout > 0.0 {
                if let StackInput::Seq(x) = &input {
                    // time-major here: the batch is dim 1
                    let x = Dropout::new(self.opts.dropout)?.forward_batch_dim(x, ctx, 1)?;
                    input = StackInput::Seq(x);
                }
            }
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let k = l * d + dir;
                let w = &self.dirs[k];
                let pick = |s: &Tensor| s.narrow(0, k, 1)?.reshape(&[n, self.hidden]);
                let h0 = match state {
                    Some(s) => pick(&s.h)?,
                    None => Tensor::zeros(&[n, self.hidden], w.w_hh.as_tensor().dtype()),
                };
                let c0 = match state.and_then(|s| s.c.as_ref()) {
                    Some(c) => Some(pick(c)?),
                    None => None,
                };
                let reverse = dir == 1;
                let (y, c) = match (&input, self.kind, want_state) {
                    // h alone from an embedding: the scan reads the projected table's rows
                    (StackInput::Lookup { table, idx }, Kind::Lstm, false) => {
                        let idx = idx.reshape(&[t, n])?;
                        (w.scan_rows(table, &idx, &h0, c0.as_ref(), reverse)?, None)
                    }
                    _ => {
                        let gx = w.project_input(&input, t, n)?;
                        w.scan(self.kind, &gx, &h0, c0.as_ref(), reverse, want_state)?
                    }
                };
                if want_state {
                    let last = if reverse { 0 } else { t - 1 };
                    hn.push(y.narrow(0, last, 1)?);
                    if let Some(c) = c {
                        cn.push(c.narrow(0, last, 1)?);
                    }
                }
                outs.push(y);
            }
            input = StackInput::Seq(if d == 2 {
                Tensor::cat(&[&outs[0], &outs[1]], 2)?
            } else {
                outs.pop()
                    .ok_or_else(|| misfit(&self.label(), "no direction".into()))?
            });
        }
        let StackInput::Seq(last) = input else {
            return Err(misfit(&self.label(), "no layers".into()));
        };
        let out = if self.opts.batch_first {
            last.transpose(0, 1)?
        } else {
            last
        };
        if !want_state {
            return Ok((out, None));
        }
        let h = Tensor::cat(&hn.iter().collect::<Vec<_>>(), 0)?;
        let c = if lstm {
            Some(Tensor::cat(&cn.iter().collect::<Vec<_>>(), 0)?)
        } else {
            None
        };
        Ok((out, Some(RnnState { h, c })))
    }

    fn parameters(&self) -> Vec<(String, Var)> {
        let d = self.opts.num_directions();
        self.dirs
            .iter()
            .enumerate()
            .flat_map(|(k, w)| {
                let rev = if k % d == 1 { "_reverse" } else { "" };
                w.named(&format!("_l{}{rev}", k / d))
            })
            .collect()
    }

    fn describe(&self) -> String {
        let o = &self.opts;
        let mut s = format!("{}, {}", self.input_size, self.hidden);
        if let Kind::Rnn(RnnNonlinearity::Relu) = self.kind {
            s += ", nonlinearity='relu'";
        }
        if o.num_layers != 1 {
            s += &format!(", num_layers={}", o.num_layers);
        }
        if !o.bias {
            s += ", bias=False";
        }
        if o.batch_first {
            s += ", batch_first=True";
        }
        if o.dropout != 0.0 {
            s += &format!(", dropout={}", o.dropout);
        }
        if o.bidirectional {
            s += ", bidirectional=True";
        }
        s
    }
}

macro_rules! recurrent_layer {
    ($(#[$m:meta])* $name:ident, $torch:literal) => {
        $(#[$m])*
        pub struct $name(Stack);

        impl $name {
            /// The input features.
            pub fn input_size(&self) -> usize {
                self.0.input_size
            }
            /// The hidden size `H` (per direction).
            pub fn hidden_size(&self) -> usize {
                self.0.hidden
            }
            /// The options.
            pub fn options(&self) -> &RnnOptions {
                &self.0.opts
            }
            /// Runs the layer over a sequence from an initial state (zeros when `None`).
            ///
            /// `x` is `[T, N, input_size]` (`[N, T, input_size]` with `batch_first`); returns
            /// the output of the last layer at every step, `[T, N, D*H]` (or `[N, T, D*H]`)
            /// with D = 2 when bidirectional (forward features first), and the final state
            /// (PyTorch's `h_n`, `c_n`): `[num_layers * D, N, H]`, the backward direction's
            /// entry being its state after step 0.
            ///
            /// Fails, naming the layer and the shapes, when `x` is not rank 3, has the wrong
            /// number of features or no steps, or the state's shapes (or presence of `c`) do
            /// not fit; in training with dropout it needs the context's random stream.
            pub fn forward_with_state(
                &self,
                x: &Tensor,
                state: Option<&RnnState>,
                ctx: &mut ForwardCtx<'_>,
            ) -> Result<(Tensor, RnnState)> {
                self.0.forward_with_state(x, state, ctx)
            }
        }

        impl Module for $name {
            fn kind(&self) -> &'static str {
                $torch
            }
            /// The output sequence from a zero state (see `forward_with_state`).
            fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
                self.0.forward_seq(x, ctx)
            }
            fn parameters(&self) -> Vec<(String, Var)> {
                self.0.parameters()
            }
            fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
                self.0.output_shape(input)
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
            fn forward_stateful(
                &self,
                x: &Tensor,
                state: Option<&RnnState>,
                ctx: &mut ForwardCtx<'_>,
            ) -> Option<Result<(Tensor, RnnState)>> {
                Some(self.0.forward_with_state(x, state, ctx))
            }
            fn forward_lookup(
                &self,
                table: &Tensor,
                idx: &Tensor,
                ctx: &mut ForwardCtx<'_>,
            ) -> Option<Result<Tensor>> {
                Some(self.0.forward_lookup(table, idx, ctx))
            }
        }
    };
}

recurrent_layer!(
    /// A multi-layer LSTM (`torch.nn.LSTM`): gates i, f, g, o; parameters `weight_ih_l{k}`
    /// `[4H, I]` (`[4H, D*H]` for k > 0), `weight_hh_l{k}` `[4H, H]`, `bias_ih_l{k}`,
    /// `bias_hh_l{k}` `[4H]`, and the same with `_reverse` for the backward direction; all
    /// initialized uniform in ±1/√H.
    ///
    /// ```
    /// use nabla_nn::{ForwardCtx, Lstm, Module, RnnOptions};
    /// use nabla_core::{DType, Mt19937, Tensor};
    /// let mut rng = Mt19937::new(0);
    /// let lstm = Lstm::with_options(8, 16, RnnOptions::default().with_batch_first(true), &mut rng)?;
    /// let x = Tensor::zeros(&[4, 10, 8], DType::F32); // [N, T, I]
    /// let (y, state) = lstm.forward_with_state(&x, None, &mut ForwardCtx::eval())?;
    /// assert_eq!(y.shape(), &[4, 10, 16]);
    /// assert_eq!(state.h.shape(), &[1, 4, 16]);
    /// assert_eq!(lstm.parameters()[0].0, "weight_ih_l0");
    /// # Ok::<(), nabla_core::Error>(())
    /// ```
    Lstm,
    "LSTM"
);

recurrent_layer!(
    /// A multi-layer GRU (`torch.nn.GRU`): gates r, z, n with
    /// `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`;
    /// parameters as [`Lstm`]'s with 3H rows.
    Gru,
    "GRU"
);

recurrent_layer!(
    /// A multi-layer Elman RNN (`torch.nn.RNN`): `h' = act(W_ih x + b_ih + W_hh h + b_hh)`
    /// with tanh or relu; parameters as [`Lstm`]'s with H rows.
    Rnn,
    "RNN"
);

impl Lstm {
    /// One layer, PyTorch's defaults (`nn.LSTM(input_size, hidden_size)`), f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_options(input_size, hidden_size, RnnOptions::default(), rng)
    }
    /// With options. Fails when a size or `num_layers` is 0 or `dropout` is outside [0, 1).
    pub fn with_options(
        input_size: usize,
        hidden_size: usize,
        opts: RnnOptions,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Stack::new(Kind::Lstm, input_size, hidden_size, opts, rng).map(Lstm)
    }
}

impl Gru {
    /// One layer, PyTorch's defaults (`nn.GRU(input_size, hidden_size)`), f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_options(input_size, hidden_size, RnnOptions::default(), rng)
    }
    /// With options. Fails when a size or `num_layers` is 0 or `dropout` is outside [0, 1).
    pub fn with_options(
        input_size: usize,
        hidden_size: usize,
        opts: RnnOptions,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Stack::new(Kind::Gru, input_size, hidden_size, opts, rng).map(Gru)
    }
}

impl Rnn {
    /// One tanh layer, PyTorch's defaults (`nn.RNN(input_size, hidden_size)`), f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_options(
            input_size,
            hidden_size,
            RnnNonlinearity::Tanh,
            RnnOptions::default(),
            rng,
        )
    }
    /// With a nonlinearity and options. Fails when a size or `num_layers` is 0 or `dropout`
    /// is outside [0, 1).
    pub fn with_options(
        input_size: usize,
        hidden_size: usize,
        nonlinearity: RnnNonlinearity,
        opts: RnnOptions,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Stack::new(Kind::Rnn(nonlinearity), input_size, hidden_size, opts, rng).map(Rnn)
    }
    /// The nonlinearity.
    pub fn nonlinearity(&self) -> RnnNonlinearity {
        match self.0.kind {
            Kind::Rnn(nl) => nl,
            _ => RnnNonlinearity::Tanh,
        }
    }
}
