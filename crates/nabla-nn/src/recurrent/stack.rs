//! The engine the recurrent layers share: a stack of layers and directions, its weights,
//! and the scans of nabla-core that run it.

use super::{RnnOptions, RnnState};
use crate::dropout::Dropout;
use crate::module::{misfit, ForwardCtx};
use nabla_core::{DType, Error, Mt19937, Result, RnnNonlinearity, Tensor, Var};

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
    pub(crate) fn project_rows(&self, x: &Tensor) -> Result<Tensor> {
        let gx = x.matmul(&self.w_ih.as_tensor().t()?)?;
        match &self.b_ih {
            Some(b) => gx.add(&b.as_tensor()),
            None => Ok(gx),
        }
    }

    /// The projections of the first layer's input, `[T, N, G*H]`.
    pub(crate) fn project_input(
        &self,
        input: &StackInput<'_>,
        t: usize,
        n: usize,
    ) -> Result<Tensor> {
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
pub(crate) fn c0_or_zeros(c0: Option<&Tensor>, h0: &Tensor) -> Tensor {
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
    pub(crate) kind: Kind,
    pub(crate) input_size: usize,
    pub(crate) hidden: usize,
    pub(crate) opts: RnnOptions,
    /// Index `layer * num_directions + direction`.
    pub(crate) dirs: Vec<DirWeights>,
}

impl Stack {
    pub(crate) fn new(
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

    pub(crate) fn label(&self) -> String {
        format!(
            "{}({}, {})",
            self.kind.torch_name(),
            self.input_size,
            self.hidden
        )
    }

    pub(crate) fn layout_hint(&self) -> &'static str {
        if self.opts.batch_first {
            "[N, T, features] (batch_first)"
        } else {
            "[T, N, features] (batch_first = false)"
        }
    }

    pub(crate) fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
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

    pub(crate) fn check_state(&self, state: &RnnState, n: usize) -> Result<()> {
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

    pub(crate) fn forward_with_state(
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
    pub(crate) fn forward_seq(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
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
    pub(crate) fn run(
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

    pub(crate) fn parameters(&self) -> Vec<(String, Var)> {
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

    pub(crate) fn describe(&self) -> String {
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
