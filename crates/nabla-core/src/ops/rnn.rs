//! Recurrent scans: one direction of an Elman RNN, LSTM or GRU layer over a whole sequence as
//! one primitive op, with PyTorch's gate order and formulas.
//!
//! The input projections of all steps are computed beforehand by the caller as one product
//! (`gx = x · W_ihᵀ + b_ih`, `[T, N, G*H]`); a scan then runs per step only the recurrent
//! product `h_{t-1} · W_hhᵀ` and one fused pass of gate arithmetic. Its backward rule runs the
//! steps in reverse with one fused pass and one product `dG_t · W_hh` per step, and computes
//! the weight gradient `dW_hh = Σ_t dG_tᵀ h_{t-1}` as one product over the whole sequence (and
//! `db_hh` as one column sum), so the weight gradients of a layer are a few large products.
//! When gradients of gradients are recorded (`create_graph`), the rule is instead written in
//! ordinary differentiable tensor ops, step by step.
//!
//! Here: the `Tensor` methods; [`scan`](mod@scan) checks the operands, runs the kernel and
//! records the op, [`backward`](mod@backward) is its rule and [`reference`](mod@reference) the
//! step-by-step form. The fused kernels are in [`crate::cpu::recurrent`].

mod backward;
mod reference;
mod scan;
#[cfg(test)]
mod tests;

use crate::cpu::recurrent::Cell;
use crate::tensor::Tensor;
use crate::Result;
pub(crate) use backward::backward;
use scan::{scan, Out};

/// The nonlinearity of an Elman RNN (`torch.nn.RNN(nonlinearity=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RnnNonlinearity {
    /// `tanh` (PyTorch's default).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

impl Tensor {
    /// One direction of an Elman RNN over a sequence: with `self` = `gx` `[T, N, H]` (the input
    /// projections `x_t W_ihᵀ + b_ih` of all steps), `h_t = act(gx_t + h_{t-1} W_hhᵀ + b_hh)`
    /// for `t = 0..T` (with `reverse`, for `t = T-1` down to 0, as the backward direction of a
    /// bidirectional RNN). Returns every `h_t`, `[T, N, H]`, in time order.
    ///
    /// `w_hh` is `[H, H]`, `b_hh` `[H]` (`None`: no bias), `h0` `[N, H]`. Fails when the
    /// shapes do not fit (the message names every shape) or the dtypes differ or are not float.
    pub fn rnn_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        nonlinearity: RnnNonlinearity,
        reverse: bool,
    ) -> Result<Tensor> {
        let cell = match nonlinearity {
            RnnNonlinearity::Tanh => Cell::Tanh,
            RnnNonlinearity::Relu => Cell::Relu,
        };
        scan(cell, reverse, self, w_hh, b_hh, h0, None, Out::Full)
    }

    /// One direction of an LSTM over a sequence, PyTorch's gates i, f, g, o: with `self` =
    /// `gx` `[T, N, 4H]` (the input projections of all steps) and `a_t = gx_t + h_{t-1} W_hhᵀ +
    /// b_hh` split into four blocks of `H`, `i = σ(a_i)`, `f = σ(a_f)`, `g = tanh(a_g)`,
    /// `o = σ(a_o)`, `c_t = f c_{t-1} + i g`, `h_t = o tanh(c_t)`; `reverse` runs from the last
    /// step to the first.
    ///
    /// Returns `[2, T, N, H]`: index 0 of dim 0 holds every `h_t`, index 1 every `c_t`, in time
    /// order (so `out.narrow(0, 0, 1)` is the output sequence, contiguous).
    ///
    /// `w_hh` is `[4H, H]`, `b_hh` `[4H]` (`None`: no bias), `h0` and `c0` `[N, H]`. Fails when
    /// the shapes do not fit (naming every shape) or the dtypes differ or are not float.
    pub fn lstm_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(
            Cell::Lstm,
            reverse,
            self,
            w_hh,
            b_hh,
            h0,
            Some(c0),
            Out::Full,
        )
    }

    /// [`Tensor::lstm_scan`] returning only the output sequence, every `h_t`, `[T, N, H]`.
    /// The cell states stay inside the op for its rule, so no gradient reaches them from
    /// outside: what an LSTM layer needs when its final state is not asked for. The full
    /// version's output would be narrowed to its h half, whose backward writes a zero
    /// gradient for every `c_t` (`[T, N, H]`) for the rule to read; this one does neither.
    /// Same values and gradients, same errors.
    pub fn lstm_scan_h(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(Cell::Lstm, reverse, self, w_hh, b_hh, h0, Some(c0), Out::H)
    }

    /// [`Tensor::lstm_scan_h`] over the rows of a table picked by index: with `self` a table
    /// of projections `[V, 4H]` and `idx` `[T, N]` (i64, each below `V`), the same as
    /// `self.index_select(0, idx.reshape([T*N]))` reshaped to `[T, N, 4H]` and then
    /// `lstm_scan_h`, without the picked `[T, N, 4H]` ever being written: each step reads its
    /// rows from the table. For a character model (an embedding lookup followed by the input
    /// projection, which is the projection of the embedding table looked up) the table is a
    /// few hundred KB where the picked rows are MB. The table's gradient sums the picked
    /// rows' gradients per row (as `index_select`'s rule does).
    ///
    /// Fails when the table is not 2-d, `idx` not 2-d i64 or out of range, or as
    /// [`Tensor::lstm_scan`] when the shapes do not fit.
    pub fn lstm_scan_rows(
        &self,
        idx: &Tensor,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        c0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(
            Cell::Lstm,
            reverse,
            self,
            w_hh,
            b_hh,
            h0,
            Some(c0),
            Out::Rows(idx),
        )
    }

    /// One direction of a GRU over a sequence, PyTorch's gates r, z, n with `b_hn` inside the
    /// reset product: with `self` = `gx` `[T, N, 3H]` (the input projections `x_t W_ihᵀ + b_ih`
    /// of all steps, blocks r, z, n) and `gh_t = h_{t-1} W_hhᵀ + b_hh`, `r = σ(gx_r + gh_r)`,
    /// `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r ⊙ gh_n)`, `h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}`;
    /// `reverse` runs from the last step to the first. Returns every `h_t`, `[T, N, H]`.
    ///
    /// `w_hh` is `[3H, H]`, `b_hh` `[3H]` (`None`: no bias), `h0` `[N, H]`. Fails when the
    /// shapes do not fit (naming every shape) or the dtypes differ or are not float.
    pub fn gru_scan(
        &self,
        w_hh: &Tensor,
        b_hh: Option<&Tensor>,
        h0: &Tensor,
        reverse: bool,
    ) -> Result<Tensor> {
        scan(Cell::Gru, reverse, self, w_hh, b_hh, h0, None, Out::Full)
    }
}
