//! Recurrent layers over whole sequences: [`Rnn`], [`Lstm`] and [`Gru`], with PyTorch's
//! options, initialization, gate order and `state_dict` names.
//!
//! Per layer and direction the input projections of all steps are one product
//! (`[T*N, I] · [I, G*H]`); the recurrence is one primitive scan op of nabla-core
//! ([`Tensor::lstm_scan`], [`Tensor::gru_scan`], [`Tensor::rnn_scan`]) that runs only the
//! `[N, H] · [H, G*H]` product and a fused gate pass per step, and whose backward computes the
//! recurrent weight gradient as one product over the whole sequence.

use crate::module::{ForwardCtx, Module};
use nabla_core::{Mt19937, Result, RnnNonlinearity, Tensor, Var};

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

mod stack;
pub(crate) use stack::{DirWeights, Kind, Stack};

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
                state: Option<&crate::LayerState>,
                ctx: &mut ForwardCtx<'_>,
            ) -> Option<Result<(Tensor, crate::LayerState)>> {
                let s = match state.map(|s| s.as_rnn($torch)).transpose() {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                Some(
                    self.0
                        .forward_with_state(x, s, ctx)
                        .map(|(y, s)| (y, crate::LayerState::Rnn(s))),
                )
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
