//! The fused kernels of the recurrent scans (Elman RNN, LSTM, GRU) over plain slices.
//!
//! The hidden units are cut into fixed blocks ([`scan_blocks`]); per step, each block runs its
//! part of the recurrent product ([`step_products`], or the packed AVX-512 panels of
//! [`packed_panel`]) and its gate arithmetic ([`gates`], with the activations of
//! [`cell_activations`]; [`lstm_gates_avx512`] for the LSTM's forward in f32). The threads walk
//! the steps together ([`scan_team`]). [`scan_forward`] and [`scan_backward`] are the two
//! passes; [`scan_dims`] says what a scan is.

mod cell_activations;
mod gates;
mod lstm_gates_avx512;
mod packed_panel;
mod scan_backward;
mod scan_blocks;
mod scan_dims;
mod scan_forward;
mod scan_team;
mod step_products;

pub(crate) use cell_activations::{exp_f32, GateAct};
pub(crate) use scan_backward::backward;
pub(crate) use scan_dims::{saved_width, Cell, Dims};
pub(crate) use scan_forward::forward;
