//! Transformer stacks and their parts as ONNX ops: layer norm, the projections, attention
//! per head with the causal mask, and the feed-forward block.

use super::{gelu, get, Attr, Graph};
use nabla_core::{Error, Result, Tensor};

/// `[T]` of a `[N, T, ..]` value, as a 1-element i64 tensor.
pub(super) fn sequence_length(g: &mut Graph, x: &str, hint: &str) -> String {
    let shape = g.node("Shape", &[x], vec![], hint);
    let one = g.ints("one", &[1], &[1]);
    g.node(
        "Gather",
        &[&shape, &one],
        vec![("axis", Attr::Int(0))],
        hint,
    )
}

/// `x [.., F] @ weightᵀ (+ bias)`.
fn affine(
    g: &mut Graph,
    x: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    hint: &str,
) -> Result<String> {
    let wt = g.weight(&format!("{hint}.weight_t"), &weight.t()?)?;
    let y = g.node("MatMul", &[x, &wt], vec![], hint);
    Ok(match bias {
        Some(b) => {
            let bn = g.weight(&format!("{hint}.bias"), b)?;
            g.node("Add", &[&y, &bn], vec![], hint)
        }
        None => y,
    })
}

/// A layer norm over the last dim, with `weight` and an optional bias.
fn layer_norm(
    g: &mut Graph,
    x: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    eps: f64,
    hint: &str,
) -> Result<String> {
    let mut ins = vec![x.to_string(), g.weight(&format!("{hint}.weight"), weight)?];
    if let Some(b) = bias {
        ins.push(g.weight(&format!("{hint}.bias"), b)?);
    }
    let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
    Ok(g.node(
        "LayerNormalization",
        &ins,
        vec![
            ("axis", Attr::Int(-1)),
            ("epsilon", Attr::Float(eps as f32)),
        ],
        hint,
    ))
}

/// A stack of encoder layers over `[N, T, E]` (PyTorch's `TransformerEncoderLayer`
/// arithmetic, pre- or post-norm), attention as `MatMul`, `Softmax`, `MatMul` per head,
/// with the causal mask cut to `[T, T]` from a `[L, L]` constant (`L`: the positional
/// embedding's `max_len`, else the input's length).
pub(super) fn transformer(
    g: &mut Graph,
    x: &str,
    ts: &[(String, Tensor)],
    c: &nabla_nn::config::TransformerConfig,
    shape: &[usize],
    max_len: Option<usize>,
    hint: &str,
) -> Result<String> {
    let (e, heads) = (shape[2], c.heads);
    let d = e / heads.max(1);
    let stack = c.layers > 1 || c.final_norm.unwrap_or(c.norm_first);
    let param = |prefix: &str, n: &str| get(ts, &format!("{prefix}{n}"));
    let need = |prefix: &str, n: &str| {
        param(prefix, n)
            .ok_or_else(|| Error::Config(format!("{hint}: the layer has no {prefix}{n}")))
    };
    let mask = if c.causal {
        let l = max_len.unwrap_or(shape[1]).max(shape[1]);
        let v: Vec<f32> = (0..l)
            .flat_map(|r| (0..l).map(move |k| if k > r { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let full = g.floats("causal_mask", &v, &[l as i64, l as i64]);
        let t = sequence_length(g, x, hint);
        let zero = g.ints("zero", &[0], &[1]);
        let rows = g.node("Slice", &[&full, &zero, &t, &zero], vec![], hint);
        let one = g.ints("one", &[1], &[1]);
        Some(g.node("Slice", &[&rows, &zero, &t, &one], vec![], hint))
    } else {
        None
    };
    let scale = g.floats("scale", &[1.0 / (d as f32).sqrt()], &[]);
    let split = g.ints("heads_shape", &[0, 0, heads as i64, d as i64], &[4]);
    let merge = g.ints("merge_shape", &[0, 0, e as i64], &[3]);
    let mut h = x.to_string();
    for l in 0..c.layers {
        let p = if stack {
            format!("layers.{l}.")
        } else {
            String::new()
        };
        let lh = format!("{hint}.{l}");
        let attention = |g: &mut Graph, y: &str| -> Result<String> {
            let w = need(&p, "self_attn.in_proj_weight")?;
            let b = param(&p, "self_attn.in_proj_bias");
            let mut qkv = Vec::new();
            for part in 0..3 {
                let wp = w.narrow(0, part * e, e)?;
                let bp = b.map(|b| b.narrow(0, part * e, e)).transpose()?;
                let v = affine(g, y, &wp, bp.as_ref(), &format!("{lh}.in_proj{part}"))?;
                let v = g.node("Reshape", &[&v, &split], vec![], &lh);
                // q, v: [N, H, T, D]; k: [N, H, D, T]
                let perm = if part == 1 {
                    vec![0, 2, 3, 1]
                } else {
                    vec![0, 2, 1, 3]
                };
                qkv.push(g.node("Transpose", &[&v], vec![("perm", Attr::Ints(perm))], &lh));
            }
            let scores = g.node("MatMul", &[&qkv[0], &qkv[1]], vec![], &lh);
            let mut scores = g.node("Mul", &[&scores, &scale], vec![], &lh);
            if let Some(m) = &mask {
                scores = g.node("Add", &[&scores, m], vec![], &lh);
            }
            let p_ = g.node("Softmax", &[&scores], vec![("axis", Attr::Int(-1))], &lh);
            let o = g.node("MatMul", &[&p_, &qkv[2]], vec![], &lh);
            let o = g.node(
                "Transpose",
                &[&o],
                vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))],
                &lh,
            );
            let o = g.node("Reshape", &[&o, &merge], vec![], &lh);
            affine(
                g,
                &o,
                need(&p, "self_attn.out_proj.weight")?,
                param(&p, "self_attn.out_proj.bias"),
                &format!("{lh}.out_proj"),
            )
        };
        let feed_forward = |g: &mut Graph, y: &str| -> Result<String> {
            let a = affine(
                g,
                y,
                need(&p, "linear1.weight")?,
                param(&p, "linear1.bias"),
                &format!("{lh}.linear1"),
            )?;
            let a = match c.activation {
                nabla_nn::config::FeedForwardActivation::Relu => g.node("Relu", &[&a], vec![], &lh),
                nabla_nn::config::FeedForwardActivation::Gelu => gelu(g, &a, None, 18, &lh),
            };
            affine(
                g,
                &a,
                need(&p, "linear2.weight")?,
                param(&p, "linear2.bias"),
                &format!("{lh}.linear2"),
            )
        };
        let norm = |g: &mut Graph, y: &str, n: &str| -> Result<String> {
            layer_norm(
                g,
                y,
                need(&p, &format!("{n}.weight"))?,
                param(&p, &format!("{n}.bias")),
                c.layer_norm_eps,
                &format!("{lh}.{n}"),
            )
        };
        h = if c.norm_first {
            let a = norm(g, &h, "norm1")?;
            let a = attention(g, &a)?;
            let h1 = g.node("Add", &[&h, &a], vec![], &lh);
            let f = norm(g, &h1, "norm2")?;
            let f = feed_forward(g, &f)?;
            g.node("Add", &[&h1, &f], vec![], &lh)
        } else {
            let a = attention(g, &h)?;
            let h1 = g.node("Add", &[&h, &a], vec![], &lh);
            let h1 = norm(g, &h1, "norm1")?;
            let f = feed_forward(g, &h1)?;
            let h2 = g.node("Add", &[&h1, &f], vec![], &lh);
            norm(g, &h2, "norm2")?
        };
    }
    if let Some(w) = get(ts, "norm.weight") {
        h = layer_norm(
            g,
            &h,
            w,
            get(ts, "norm.bias"),
            c.layer_norm_eps,
            &format!("{hint}.norm"),
        )?;
    }
    Ok(h)
}
