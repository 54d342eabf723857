//! The fused kernels of the recurrent scans (Elman RNN, LSTM, GRU): the scans' loops
//! ([`scan_forward`]), the gate arithmetic of one block of units ([`gates`], with the
//! activations of [`cell_activations`], and [`lstm_gates_avx512`] for the LSTM's forward in
//! f32), the packed per-step products ([`packed_panel`]) and the threads walking the steps
//! together ([`scan_team`]).

mod cell_activations;
mod gates;
mod lstm_gates_avx512;
mod packed_panel;
mod scan_forward;
mod scan_team;

pub(crate) use cell_activations::{exp_f32, GateAct};
pub(crate) use scan_forward::{backward, forward, saved_width, Dims};
