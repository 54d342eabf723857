//! The convolution kernels (NCHW): im2col tiles fed to `gemm` ([`im2col_gemm`], the entry
//! points), the copies between planes and `col` ([`im2col`]), the stride-1 "wide grid"
//! ([`wide_grid`]), and its direct AVX-512 kernels without `col` ([`direct_forward`],
//! [`direct_weight_grad`]).

mod direct_forward;
mod direct_weight_grad;
mod im2col;
mod im2col_gemm;
mod wide_grid;

pub(crate) use im2col_gemm::{conv_forward, conv_input_grad, conv_weight_grad, ConvGeom};
