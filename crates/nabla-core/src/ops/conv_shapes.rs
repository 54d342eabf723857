//! Output shapes of the convolutions from the shapes and options alone, with the ops' own
//! validation and messages, so a model's shapes are known before anything is allocated.

use super::conv::{conv2d_geom, conv_transpose2d_geom, Shown};
use super::conv_options::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions};
use crate::Result;

/// The output shape of `conv2d` for an input `[N, C, H, W]` and a weight `[O, C / groups, kH,
/// kW]`, with the op's own validation and messages, without touching any data.
pub fn conv2d_output_shape(
    input: &[usize],
    weight: &[usize],
    opts: Conv2dOptions,
) -> Result<Vec<usize>> {
    let s = Shown {
        op: "conv2d",
        x: input,
        w: weight,
        one_d: false,
    };
    if input.len() != 4 || weight.len() != 4 {
        return Err(s.err("the input and the weight must have rank 4"));
    }
    let g = conv2d_geom(&s, input, weight, opts)?;
    Ok(vec![g.n, g.o, g.oh, g.ow])
}

/// The output shape of `conv1d` for an input `[N, C, L]` and a weight `[O, C / groups, K]`,
/// as [`conv2d_output_shape`].
pub fn conv1d_output_shape(
    input: &[usize],
    weight: &[usize],
    opts: Conv1dOptions,
) -> Result<Vec<usize>> {
    let s = Shown {
        op: "conv1d",
        x: input,
        w: weight,
        one_d: true,
    };
    if input.len() != 3 || weight.len() != 3 {
        return Err(s.err("the input and the weight must have rank 3"));
    }
    let x4 = [input[0], input[1], 1, input[2]];
    let w4 = [weight[0], weight[1], 1, weight[2]];
    let o2 = Conv2dOptions::default()
        .with_stride(1, opts.stride)
        .with_padding(0, opts.padding)
        .with_dilation(1, opts.dilation)
        .with_groups(opts.groups);
    let g = conv2d_geom(&s, &x4, &w4, o2)?;
    Ok(vec![g.n, g.o, g.ow])
}

/// The output shape of `conv_transpose2d` for an input `[N, Cin, H, W]` and a weight `[Cin,
/// Cout / groups, kH, kW]`, as [`conv2d_output_shape`].
pub fn conv_transpose2d_output_shape(
    input: &[usize],
    weight: &[usize],
    opts: ConvTranspose2dOptions,
) -> Result<Vec<usize>> {
    let s = Shown {
        op: "conv_transpose2d",
        x: input,
        w: weight,
        one_d: false,
    };
    if input.len() != 4 || weight.len() != 4 {
        return Err(s.err("the input and the weight must have rank 4"));
    }
    let g = conv_transpose2d_geom(&s, input, weight, opts)?;
    Ok(vec![g.n, g.c, g.h, g.w])
}
