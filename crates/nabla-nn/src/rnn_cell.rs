//! Single-step recurrent cells: [`RnnCell`], [`LstmCell`] and [`GruCell`] (PyTorch's
//! `nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell`), each one step of the corresponding layer.

use crate::module::{misfit, ForwardCtx, Module};
use crate::recurrent::{DirWeights, Kind, RnnState};
use nabla_core::{Error, Mt19937, Result, RnnNonlinearity, Tensor, Var};

/// What the three cells share.
struct CellCore {
    kind: Kind,
    input_size: usize,
    hidden: usize,
    w: DirWeights,
}

impl CellCore {
    fn new(kind: Kind, input: usize, hidden: usize, bias: bool, rng: &mut Mt19937) -> Result<Self> {
        if input == 0 || hidden == 0 {
            return Err(Error::Arg {
                op: "cell",
                msg: format!(
                    "{}Cell: input_size ({input}) and hidden_size ({hidden}) must be at least 1",
                    kind.torch_name()
                ),
            });
        }
        Ok(CellCore {
            kind,
            input_size: input,
            hidden,
            w: DirWeights::new(kind, input, hidden, bias, rng)?,
        })
    }

    fn label(&self) -> String {
        format!(
            "{}Cell({}, {})",
            self.kind.torch_name(),
            self.input_size,
            self.hidden
        )
    }

    fn check_input(&self, input: &[usize]) -> Result<()> {
        if input.len() != 2 || input[1] != self.input_size {
            return Err(misfit(
                &self.label(),
                format!("input {input:?} must be [N, {}]", self.input_size),
            ));
        }
        Ok(())
    }

    fn forward_cell(&self, x: &Tensor, state: Option<&RnnState>) -> Result<RnnState> {
        self.check_input(x.shape())?;
        let n = x.shape()[0];
        let want = [n, self.hidden];
        let lstm = self.kind == Kind::Lstm;
        if let Some(s) = state {
            let bad = |what: &str, got: &[usize]| {
                misfit(
                    &self.label(),
                    format!("state {what} {got:?} must be [N, hidden] = {want:?}"),
                )
            };
            if s.h.shape() != want {
                return Err(bad("h", s.h.shape()));
            }
            match (&s.c, lstm) {
                (Some(c), true) if c.shape() != want => return Err(bad("c", c.shape())),
                (None, true) => {
                    return Err(misfit(
                        &self.label(),
                        "the state has no cell state c (an LSTM cell needs both h and c)".into(),
                    ))
                }
                (Some(_), false) => {
                    return Err(misfit(
                        &self.label(),
                        "the state has a cell state c, which only an LSTM cell has".into(),
                    ))
                }
                _ => {}
            }
        }
        let gx = self.w.project(x, 1, n)?;
        let h0 = match state {
            Some(s) => s.h.clone(),
            None => Tensor::zeros(&want, gx.dtype()),
        };
        let c0 = state.and_then(|s| s.c.clone());
        let (h, c) = self.w.scan(self.kind, &gx, &h0, c0.as_ref(), false, true)?;
        Ok(RnnState {
            h: h.reshape(&want)?,
            c: c.map(|c| c.reshape(&want)).transpose()?,
        })
    }
}

macro_rules! cell {
    ($(#[$m:meta])* $name:ident, $torch:literal) => {
        $(#[$m])*
        pub struct $name(CellCore);

        impl $name {
            /// The input features.
            pub fn input_size(&self) -> usize {
                self.0.input_size
            }
            /// The hidden size.
            pub fn hidden_size(&self) -> usize {
                self.0.hidden
            }
            /// One step: `x` `[N, input_size]` and the state (`h` `[N, H]`, and `c` for the
            /// LSTM cell; zeros when `None`) give the next state.
            ///
            /// Fails, naming the cell and the shapes, when `x` is not `[N, input_size]` or the
            /// state's shapes (or presence of `c`) do not fit.
            pub fn forward_cell(&self, x: &Tensor, state: Option<&RnnState>) -> Result<RnnState> {
                self.0.forward_cell(x, state)
            }
        }

        impl Module for $name {
            fn kind(&self) -> &'static str {
                $torch
            }
            /// The next hidden state `[N, H]` from a zero state.
            fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
                Ok(self.0.forward_cell(x, None)?.h)
            }
            fn parameters(&self) -> Vec<(String, Var)> {
                self.0.w.named("")
            }
            fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
                self.0.check_input(input)?;
                Ok(vec![input[0], self.0.hidden])
            }
            fn describe(&self) -> String {
                let mut s = format!("{}, {}", self.0.input_size, self.0.hidden);
                if self.0.w.b_ih.is_none() {
                    s += ", bias=False";
                }
                s
            }
        }
    };
}

cell!(
    /// One LSTM step (`torch.nn.LSTMCell`): parameters `weight_ih` `[4H, I]`, `weight_hh`
    /// `[4H, H]`, `bias_ih`, `bias_hh` `[4H]`, gates i, f, g, o, uniform in ±1/√H.
    ///
    /// ```
    /// use nabla_nn::LstmCell;
    /// use nabla_core::{DType, Mt19937, Tensor};
    /// let cell = LstmCell::new(3, 5, &mut Mt19937::new(0))?;
    /// let s = cell.forward_cell(&Tensor::zeros(&[2, 3], DType::F32), None)?;
    /// let s = cell.forward_cell(&Tensor::ones(&[2, 3], DType::F32), Some(&s))?;
    /// assert_eq!(s.c.unwrap().shape(), &[2, 5]);
    /// # Ok::<(), nabla_core::Error>(())
    /// ```
    LstmCell,
    "LSTMCell"
);

cell!(
    /// One GRU step (`torch.nn.GRUCell`): parameters as [`LstmCell`]'s with 3H rows, gates
    /// r, z, n with `b_hn` inside the reset product.
    GruCell,
    "GRUCell"
);

cell!(
    /// One Elman RNN step (`torch.nn.RNNCell`), tanh or relu: parameters as [`LstmCell`]'s
    /// with H rows.
    RnnCell,
    "RNNCell"
);

impl LstmCell {
    /// `nn.LSTMCell(input_size, hidden_size)`, f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_bias(input_size, hidden_size, true, rng)
    }
    /// With or without biases. Fails when a size is 0.
    pub fn with_bias(input: usize, hidden: usize, bias: bool, rng: &mut Mt19937) -> Result<Self> {
        CellCore::new(Kind::Lstm, input, hidden, bias, rng).map(LstmCell)
    }
}

impl GruCell {
    /// `nn.GRUCell(input_size, hidden_size)`, f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_bias(input_size, hidden_size, true, rng)
    }
    /// With or without biases. Fails when a size is 0.
    pub fn with_bias(input: usize, hidden: usize, bias: bool, rng: &mut Mt19937) -> Result<Self> {
        CellCore::new(Kind::Gru, input, hidden, bias, rng).map(GruCell)
    }
}

impl RnnCell {
    /// `nn.RNNCell(input_size, hidden_size)` (tanh), f32.
    pub fn new(input_size: usize, hidden_size: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_options(input_size, hidden_size, RnnNonlinearity::Tanh, true, rng)
    }
    /// With a nonlinearity and with or without biases. Fails when a size is 0.
    pub fn with_options(
        input: usize,
        hidden: usize,
        nonlinearity: RnnNonlinearity,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        CellCore::new(Kind::Rnn(nonlinearity), input, hidden, bias, rng).map(RnnCell)
    }
}
