//! Multi-head attention, as PyTorch's `nn.MultiheadAttention` with `batch_first = True`:
//! the same parameters (`in_proj_weight [3E, E]`, `in_proj_bias [3E]`, `out_proj`), the
//! same init and `state_dict` names, the same masks.
//!
//! Without dropout on the attention weights (evaluation, or `dropout = 0`) and without asking
//! for the weights, heads are computed by the fused
//! [`Tensor::scaled_dot_product_attention`] primitive, which never holds the `L x S` scores;
//! otherwise by the composed ops (scores, softmax, dropout, product).

use crate::dropout::Dropout;
use crate::init::xavier_uniform;
use crate::layer_state::{KvCache, LayerState};
use crate::linear::Linear;
use crate::module::{misfit, prefixed, ForwardCtx, Module};
use nabla_core::{DType, Error, Mt19937, Result, Tensor, Var};

/// What [`MultiheadAttention::attend`] takes beside query, key and value (all optional, as
/// PyTorch's keyword arguments).
#[derive(Default, Clone, Copy)]
pub struct AttendOptions<'a> {
    /// `[N, S]`: nonzero (i64) marks a key position to ignore (padding), as PyTorch's bool
    /// `key_padding_mask` with `True`; a float mask is added to the scores.
    pub key_padding_mask: Option<&'a Tensor>,
    /// `[L, S]` or `[N·H, L, S]`: nonzero (i64) blocks a query–key pair, as PyTorch's bool
    /// `attn_mask` with `True`; a float mask is added to the scores (`-inf` blocks).
    pub attn_mask: Option<&'a Tensor>,
    /// Each position attends to itself and the positions before it only.
    pub is_causal: bool,
    /// Also return the attention weights, averaged over the heads (`[N, L, S]`).
    pub need_weights: bool,
}

/// Multi-head attention over batch-first `[N, L, E]` inputs (`nn.MultiheadAttention(E, H,
/// batch_first=True)`). As a [`Module`] (in a [`crate::Sequential`]) it is self-attention,
/// causal when built with [`MultiheadAttention::causal`].
pub struct MultiheadAttention {
    /// `[3E, E]`: the query, key and value projections stacked.
    pub in_proj_weight: Var,
    /// `[3E]`, when built with biases.
    pub in_proj_bias: Option<Var>,
    /// The output projection `E -> E`.
    pub out_proj: Linear,
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    causal: bool,
}

impl MultiheadAttention {
    /// `embed_dim` split over `num_heads` heads, with PyTorch's defaults: biases, dropout 0,
    /// `in_proj_weight` Xavier-uniform, `in_proj_bias` and `out_proj.bias` zero,
    /// `out_proj.weight` as a linear layer's.
    ///
    /// Fails when `num_heads` is 0 or does not divide `embed_dim`.
    pub fn new(embed_dim: usize, num_heads: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_options(embed_dim, num_heads, 0.0, true, rng)
    }

    /// With the dropout on the attention weights and the biases chosen.
    ///
    /// Fails when `num_heads` is 0 or does not divide `embed_dim`, or dropout is not in
    /// `[0, 1)`.
    pub fn with_options(
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        bias: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        if num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(Error::arg(
                "MultiheadAttention",
                format!("num_heads = {num_heads} must divide embed_dim = {embed_dim}"),
            ));
        }
        Dropout::new(dropout)?;
        let e = embed_dim;
        let in_proj_weight = Var::new(&xavier_uniform(&[3 * e, e], 1.0, DType::F32, rng)?);
        let in_proj_bias = bias.then(|| Var::new(&Tensor::zeros(&[3 * e], DType::F32)));
        let mut out_proj = if bias {
            Linear::new(e, e, rng)?
        } else {
            Linear::without_bias(e, e, rng)?
        };
        if let Some(b) = &mut out_proj.bias {
            *b = Var::new(&Tensor::zeros(&[e], DType::F32));
        }
        Ok(MultiheadAttention {
            in_proj_weight,
            in_proj_bias,
            out_proj,
            embed_dim,
            num_heads,
            dropout,
            causal: false,
        })
    }

    /// As a module, attends causally (each position to itself and the ones before it).
    pub fn causal(mut self, on: bool) -> Self {
        self.causal = on;
        self
    }

    /// The model width `E`.
    pub fn embed_dim(&self) -> usize {
        self.embed_dim
    }
    /// The number of heads `H`.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// `x [N, T, E]` projected by rows `part·E .. (part+1)·E` of the input projection.
    fn project(&self, x: &Tensor, part: usize) -> Result<Tensor> {
        let e = self.embed_dim;
        let w = self.in_proj_weight.as_tensor().narrow(0, part * e, e)?;
        let b = match &self.in_proj_bias {
            Some(b) => Some(b.as_tensor().narrow(0, part * e, e)?),
            None => None,
        };
        x.linear(&w, b.as_ref())
    }

    /// `x [N, T, E]` projected to queries, keys and values at once: `[N, T, 3E]`.
    fn in_projection(&self, x: &Tensor) -> Result<Tensor> {
        let b = self.in_proj_bias.as_ref().map(Var::as_tensor);
        x.linear(&self.in_proj_weight.as_tensor(), b.as_ref())
    }

    /// `[N, T, E]` to `[N, H, T, E/H]`.
    fn heads(&self, x: &Tensor) -> Result<Tensor> {
        let (n, t) = (x.shape()[0], x.shape()[1]);
        let h = self.num_heads;
        x.reshape(&[n, t, h, self.embed_dim / h])?
            .permute(&[0, 2, 1, 3])
    }

    /// Attention of `query [N, L, E]` over `key [N, S, E]` and `value [N, S, E]`: the
    /// output `[N, L, E]` and, with `need_weights`, the weights averaged over the heads
    /// `[N, L, S]`. Dropout on the weights in training.
    ///
    /// Fails when the shapes do not fit (naming them), or a mask has another shape or a
    /// dtype other than i64 or the inputs' float.
    pub fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        opts: AttendOptions<'_>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let e = self.embed_dim;
        for (what, t) in [("query", query), ("key", key), ("value", value)] {
            if t.rank() != 3 || t.shape()[2] != e {
                return Err(misfit(
                    "MultiheadAttention",
                    format!("{what} must be [N, T, {e}], got {:?}", t.shape()),
                ));
            }
        }
        let (n, l, s) = (query.shape()[0], query.shape()[1], key.shape()[1]);
        if key.shape()[0] != n || value.shape()[..2] != key.shape()[..2] {
            return Err(misfit(
                "MultiheadAttention",
                format!(
                    "query {:?}, key {:?} and value {:?} do not fit (key and value [N, S, E])",
                    query.shape(),
                    key.shape(),
                    value.shape()
                ),
            ));
        }
        if opts.is_causal && opts.attn_mask.is_none() && l != s {
            // (PyTorch's is_causal stands for a square mask)
            return Err(misfit(
                "MultiheadAttention",
                format!("is_causal needs as many queries as keys, got {l} and {s}"),
            ));
        }
        let self_attention = std::ptr::eq(query, key) && std::ptr::eq(key, value);
        let (q, k, v) = if self_attention {
            // one product for the three projections
            let qkv = self.in_projection(query)?;
            (
                qkv.narrow(2, 0, e)?,
                qkv.narrow(2, e, e)?,
                qkv.narrow(2, 2 * e, e)?,
            )
        } else {
            (
                self.project(query, 0)?,
                self.project(key, 1)?,
                self.project(value, 2)?,
            )
        };
        let (q, k, v) = (self.heads(&q)?, self.heads(&k)?, self.heads(&v)?);
        let mask = self.additive_mask(query.dtype(), n, l, s, &opts)?;
        let dropout = if ctx.training { self.dropout } else { 0.0 };
        let (o, weights) = if dropout == 0.0 && !opts.need_weights {
            let causal = opts.is_causal && mask.is_none();
            let o = q.scaled_dot_product_attention(&k, &v, mask.as_ref(), causal, None)?;
            (o, None)
        } else {
            let scale = 1.0 / ((e / self.num_heads) as f64).sqrt();
            let mut scores = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(scale)?;
            let causal_mask = (opts.is_causal && mask.is_none())
                .then(|| causal_additive(l, s, query.dtype()))
                .transpose()?;
            for m in mask.iter().chain(causal_mask.iter()) {
                scores = scores.add(m)?;
            }
            let p = scores.softmax(-1)?;
            // rows with every key blocked give 0, as PyTorch 2.15's attention does
            let p = Tensor::where_cond(&p.isfinite()?, &p, &Tensor::zeros(&[], p.dtype()))?;
            let weights = opts
                .need_weights
                .then(|| p.mean_dims(&[1], false))
                .transpose()?;
            let p = Dropout::new(dropout)?.forward_batch_dim(&p, ctx, 0)?;
            (p.matmul(&v)?, weights)
        };
        let o = o.permute(&[0, 2, 1, 3])?.reshape(&[n, l, e])?;
        Ok((self.out_proj.forward(&o, ctx)?, weights))
    }

    /// Causal self-attention of the next piece `x [N, T, E]` of a sequence whose earlier
    /// positions' keys and values are in `cache` (`None`: the sequence's start): the output
    /// `[N, T, E]` (each new position attends to the cached positions, the new ones before
    /// it and itself) and the cache with the new positions appended. Fed position by
    /// position it gives what [`Module::forward`] gives for the whole sequence, while each
    /// new position costs one projection instead of the whole window's. For evaluation (no
    /// dropout on the weights).
    ///
    /// Fails when the layer is not causal, in training with attention dropout, or when `x`
    /// or the cache does not fit (naming the shapes).
    pub fn forward_cached(
        &self,
        x: &Tensor,
        cache: Option<&KvCache>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<(Tensor, KvCache)> {
        let e = self.embed_dim;
        if !self.causal {
            return Err(misfit(
                "MultiheadAttention",
                "a key/value cache needs causal self-attention (later positions would change earlier outputs)".into(),
            ));
        }
        if ctx.training && self.dropout > 0.0 {
            return Err(misfit(
                "MultiheadAttention",
                "a key/value cache is for evaluation; this layer has attention dropout in training"
                    .into(),
            ));
        }
        if x.rank() != 3 || x.shape()[2] != e {
            return Err(misfit(
                "MultiheadAttention",
                format!("input must be [N, T, {e}], got {:?}", x.shape()),
            ));
        }
        let (n, t) = (x.shape()[0], x.shape()[1]);
        let (h, d) = (self.num_heads, e / self.num_heads);
        let qkv = self.in_projection(x)?;
        let q = self.heads(&qkv.narrow(2, 0, e)?)?;
        let k = self.heads(&qkv.narrow(2, e, e)?)?;
        let v = self.heads(&qkv.narrow(2, 2 * e, e)?)?;
        let (k, v, past) = match cache {
            None => (k, v, 0),
            Some(c) => {
                let past = c.keys.shape().get(2).copied().unwrap_or(0);
                for (what, m) in [("keys", &c.keys), ("values", &c.values)] {
                    if m.shape() != [n, h, past, d] || m.dtype() != x.dtype() {
                        return Err(misfit(
                            "MultiheadAttention",
                            format!(
                                "cached {what} must be {} [{n}, {h}, {past}, {d}], got {} {:?}",
                                x.dtype(),
                                m.dtype(),
                                m.shape()
                            ),
                        ));
                    }
                }
                (
                    Tensor::cat(&[&c.keys, &k], 2)?,
                    Tensor::cat(&[&c.values, &v], 2)?,
                    past,
                )
            }
        };
        let o = if past == 0 || t == 1 {
            // the sequence's start is plainly causal; one new position sees every key
            q.scaled_dot_product_attention(&k, &v, None, past == 0, None)?
        } else {
            let mask = causal_after(past, t, past + t, x.dtype())?;
            q.scaled_dot_product_attention(&k, &v, Some(&mask), false, None)?
        };
        let o = o.permute(&[0, 2, 1, 3])?.reshape(&[n, t, e])?;
        let y = self.out_proj.forward(&o, ctx)?;
        Ok((y, KvCache { keys: k, values: v }))
    }

    /// The masks as one additive float mask broadcastable to `[N, H, L, S]` (`None`
    /// without masks).
    fn additive_mask(
        &self,
        dtype: DType,
        n: usize,
        l: usize,
        s: usize,
        opts: &AttendOptions<'_>,
    ) -> Result<Option<Tensor>> {
        let h = self.num_heads;
        let mut out: Option<Tensor> = None;
        if let Some(m) = opts.attn_mask {
            let m = as_additive("attn_mask", m, dtype)?;
            let m = match m.shape() {
                [a, b] if (*a, *b) == (l, s) => m.reshape(&[1, 1, l, s])?,
                [nh, a, b] if (*nh, *a, *b) == (n * h, l, s) => m.reshape(&[n, h, l, s])?,
                other => {
                    return Err(misfit(
                        "MultiheadAttention",
                        format!(
                            "attn_mask must be [{l}, {s}] or [{}, {l}, {s}], got {other:?}",
                            n * h
                        ),
                    ))
                }
            };
            out = Some(m);
        }
        if let Some(m) = opts.key_padding_mask {
            if m.shape() != [n, s] {
                return Err(misfit(
                    "MultiheadAttention",
                    format!("key_padding_mask must be [{n}, {s}], got {:?}", m.shape()),
                ));
            }
            let m = as_additive("key_padding_mask", m, dtype)?.reshape(&[n, 1, 1, s])?;
            out = Some(match out {
                Some(a) => a.add(&m)?,
                None => m,
            });
        }
        if let (Some(m), true) = (&out, opts.is_causal) {
            out = Some(m.add(&causal_additive(l, s, dtype)?)?);
        }
        Ok(out)
    }

    fn parts(&self) -> [(&str, &dyn Module); 1] {
        [("out_proj", &self.out_proj)]
    }
}

/// `mask` as an additive float mask of `dtype`: an i64 mask's nonzero entries become `-inf`
/// (blocked), a float mask of `dtype` is taken as it is.
fn as_additive(what: &str, mask: &Tensor, dtype: DType) -> Result<Tensor> {
    match mask.dtype() {
        DType::I64 => {
            let blocked = mask.to_vec::<i64>()?;
            let v: Vec<f64> = blocked
                .iter()
                .map(|&b| if b != 0 { f64::NEG_INFINITY } else { 0.0 })
                .collect();
            Tensor::from_vec(v, mask.shape())?.to_dtype(dtype)
        }
        d if d == dtype => Ok(mask.clone()),
        d => Err(Error::arg(
            "MultiheadAttention",
            format!("{what} must be i64 (nonzero blocks) or {dtype} (added), got {d}"),
        )),
    }
}

/// The causal mask `[L, S]` as an additive float mask: `-inf` above the diagonal.
pub(crate) fn causal_additive(l: usize, s: usize, dtype: DType) -> Result<Tensor> {
    causal_after(0, l, s, dtype)
}

/// The causal mask `[L, S]` of `L` queries at positions `past ..` over keys at `0 .. S`:
/// `-inf` where the key comes after the query.
fn causal_after(past: usize, l: usize, s: usize, dtype: DType) -> Result<Tensor> {
    let v: Vec<f64> = (0..l)
        .flat_map(|i| (0..s).map(move |j| if j > past + i { f64::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, &[l, s])?.to_dtype(dtype)
}

impl Module for MultiheadAttention {
    fn kind(&self) -> &'static str {
        "MultiheadAttention"
    }
    /// Self-attention of `x [N, T, E]` (causal when built so).
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let opts = AttendOptions {
            is_causal: self.causal,
            ..AttendOptions::default()
        };
        Ok(self.attend(x, x, x, opts, ctx)?.0)
    }
    /// Causal self-attention with a key/value cache (see
    /// [`MultiheadAttention::forward_cached`]).
    fn forward_stateful(
        &self,
        x: &Tensor,
        state: Option<&LayerState>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, LayerState)>> {
        let run = |ctx: &mut ForwardCtx<'_>| {
            let cache = LayerState::one_cache(state, "MultiheadAttention")?;
            let (y, c) = self.forward_cached(x, cache, ctx)?;
            Ok((y, LayerState::Attention(vec![c])))
        };
        Some(run(ctx))
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        let mut v = vec![("in_proj_weight".to_string(), self.in_proj_weight.clone())];
        if let Some(b) = &self.in_proj_bias {
            v.push(("in_proj_bias".to_string(), b.clone()));
        }
        v.extend(prefixed(&self.parts()));
        v
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.parts()
            .into_iter()
            .map(|(n, m)| (n.to_string(), m))
            .collect()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input.len() != 3 || input[2] != self.embed_dim {
            return Err(misfit(
                "MultiheadAttention",
                format!("input {input:?} is not [N, T, {}]", self.embed_dim),
            ));
        }
        Ok(input.to_vec())
    }
    fn describe(&self) -> String {
        format!(
            "embed_dim={}, num_heads={}, dropout={}, bias={}, causal={}",
            self.embed_dim,
            self.num_heads,
            self.dropout,
            self.in_proj_bias.is_some(),
            self.causal
        )
    }
}
