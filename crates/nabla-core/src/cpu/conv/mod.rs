//! The convolution kernels (NCHW). [`im2col_gemm`] holds the entry points: im2col tiles fed to
//! `gemm` calls, or the stride-1 "wide grid" of [`wide_grid`], which on an AVX-512 CPU runs
//! the direct kernels without `col` ([`direct_forward`], [`direct_weight_grad`]). [`im2col`]
//! copies between the input planes and `col`; [`geom`] describes a convolution and its tiles;
//! [`gemm_units`] is what every kernel shares (one-thread `gemm` calls, work split across
//! threads).

mod direct_forward;
mod direct_weight_grad;
mod gemm_units;
mod geom;
mod im2col;
mod im2col_gemm;
mod wide_grid;

pub(crate) use gemm_units::gemm_seq;
pub(crate) use geom::ConvGeom;
pub(crate) use im2col_gemm::{conv_forward, conv_input_grad, conv_weight_grad};
