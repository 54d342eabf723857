//! Transformer encoder layers, as PyTorch's `nn.TransformerEncoderLayer` and
//! `nn.TransformerEncoder` with `batch_first = True`: the same sub-layers, names
//! (`self_attn`, `linear1`, `linear2`, `norm1`, `norm2`; `layers.N.…`, `norm`), defaults and
//! order of operations (post-norm, or pre-norm with `norm_first`).

use crate::activation::Activation;
use crate::attention::{AttendOptions, MultiheadAttention};
use crate::dropout::Dropout;
use crate::layer_state::{KvCache, LayerState};
use crate::linear::Linear;
use crate::module::{misfit, prefixed, ForwardCtx, Module};
use crate::norm::LayerNorm;
use nabla_core::{Error, Mt19937, Result, Tensor, Var};

/// The options of a [`TransformerEncoderLayer`] beyond its width and heads (PyTorch's
/// keyword arguments and defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderLayerOptions {
    /// The feed-forward block's hidden width (default 2048).
    pub dim_feedforward: usize,
    /// Dropout in attention, after it and in the feed-forward block (default 0.1).
    pub dropout: f64,
    /// The feed-forward activation: [`Activation::ReLU`] (default) or [`Activation::GELU`].
    pub activation: Activation,
    /// Layer norm eps (default 1e-5).
    pub layer_norm_eps: f64,
    /// Normalize before each block (pre-norm, as GPT-2) instead of after (default false).
    pub norm_first: bool,
    /// Biases in the linear layers and the layer norms (default true).
    pub bias: bool,
    /// Self-attention is causal (what `is_causal` with a causal mask asks of PyTorch's layer).
    pub causal: bool,
}

impl Default for EncoderLayerOptions {
    fn default() -> Self {
        EncoderLayerOptions {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::ReLU,
            layer_norm_eps: 1e-5,
            norm_first: false,
            bias: true,
            causal: false,
        }
    }
}

/// A layer norm over `d` features, with a bias or without (PyTorch's `bias=False`).
fn layer_norm(d: usize, eps: f64, bias: bool) -> LayerNorm {
    LayerNorm::with_options(&[d], eps, true).with_bias(bias)
}

/// One encoder layer: self-attention and a feed-forward block, each with a residual
/// connection and a layer norm, over `[N, T, E]`.
pub struct TransformerEncoderLayer {
    /// The self-attention.
    pub self_attn: MultiheadAttention,
    /// Feed-forward, `E -> dim_feedforward`.
    pub linear1: Linear,
    /// Feed-forward, `dim_feedforward -> E`.
    pub linear2: Linear,
    /// The norm of the attention block.
    pub norm1: LayerNorm,
    /// The norm of the feed-forward block.
    pub norm2: LayerNorm,
    dropout: Dropout,
    opts: EncoderLayerOptions,
}

impl TransformerEncoderLayer {
    /// A layer of width `d_model` with `nhead` heads.
    ///
    /// Fails when `nhead` does not divide `d_model`, dropout is not in `[0, 1)`, the
    /// activation is neither ReLU nor GELU, or a size is 0.
    pub fn new(
        d_model: usize,
        nhead: usize,
        opts: EncoderLayerOptions,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        if d_model == 0 || opts.dim_feedforward == 0 {
            return Err(Error::arg(
                "TransformerEncoderLayer",
                "d_model and dim_feedforward must be at least 1",
            ));
        }
        if !matches!(
            opts.activation,
            Activation::ReLU | Activation::GELU | Activation::GELUTanh
        ) {
            return Err(Error::arg(
                "TransformerEncoderLayer",
                format!("activation must be relu or gelu, got {:?}", opts.activation),
            ));
        }
        let self_attn =
            MultiheadAttention::with_options(d_model, nhead, opts.dropout, opts.bias, rng)?
                .causal(opts.causal);
        let linear = |i, o, rng: &mut Mt19937| {
            if opts.bias {
                Linear::new(i, o, rng)
            } else {
                Linear::without_bias(i, o, rng)
            }
        };
        let linear1 = linear(d_model, opts.dim_feedforward, rng)?;
        let linear2 = linear(opts.dim_feedforward, d_model, rng)?;
        let norm = || layer_norm(d_model, opts.layer_norm_eps, opts.bias);
        Ok(TransformerEncoderLayer {
            self_attn,
            linear1,
            linear2,
            norm1: norm(),
            norm2: norm(),
            dropout: Dropout::new(opts.dropout)?,
            opts,
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &EncoderLayerOptions {
        &self.opts
    }

    /// The layer over `x [N, T, E]` with masks (see [`AttendOptions`]; `need_weights` is
    /// ignored), as PyTorch's `forward(src, src_mask, src_key_padding_mask, is_causal)`.
    pub fn forward_masked(
        &self,
        x: &Tensor,
        masks: AttendOptions<'_>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<Tensor> {
        let masks = AttendOptions {
            need_weights: false,
            is_causal: masks.is_causal || self.opts.causal,
            ..masks
        };
        self.blocks(x, ctx, &mut |h, ctx| {
            Ok(self.self_attn.attend(h, h, h, masks, ctx)?.0)
        })
    }

    /// The next piece `x [N, T, E]` of a sequence whose earlier positions' keys and values
    /// are in `cache` (see [`MultiheadAttention::forward_cached`]): the output and the cache
    /// with the new positions appended. The layer must be causal.
    ///
    /// Fails as [`MultiheadAttention::forward_cached`] does.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        cache: Option<&KvCache>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<(Tensor, KvCache)> {
        let mut new = None;
        let y = self.blocks(x, ctx, &mut |h, ctx| {
            let (a, c) = self.self_attn.forward_cached(h, cache, ctx)?;
            new = Some(c);
            Ok(a)
        })?;
        let c = new.ok_or_else(|| Error::arg("TransformerEncoderLayer", "no attention ran"))?;
        Ok((y, c))
    }

    /// The two residual blocks around `attention` (post-norm, or pre-norm with
    /// `norm_first`).
    fn blocks(
        &self,
        x: &Tensor,
        ctx: &mut ForwardCtx<'_>,
        attention: &mut dyn FnMut(&Tensor, &mut ForwardCtx<'_>) -> Result<Tensor>,
    ) -> Result<Tensor> {
        if self.opts.norm_first {
            let h = self.norm1.forward(x, ctx)?;
            let a = attention(&h, ctx)?;
            let x = x.add(&self.dropout.forward(&a, ctx)?)?;
            let h = self.norm2.forward(&x, ctx)?;
            x.add(&self.feed_forward(&h, ctx)?)
        } else {
            let a = attention(x, ctx)?;
            let x = self
                .norm1
                .forward(&x.add(&self.dropout.forward(&a, ctx)?)?, ctx)?;
            self.norm2
                .forward(&x.add(&self.feed_forward(&x, ctx)?)?, ctx)
        }
    }

    fn feed_forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let h = self.linear1.forward(x, ctx)?;
        let h = self.opts.activation.forward(&h, ctx)?;
        let h = self.dropout.forward(&h, ctx)?;
        let h = self.linear2.forward(&h, ctx)?;
        self.dropout.forward(&h, ctx)
    }

    fn parts(&self) -> [(&str, &dyn Module); 5] {
        [
            ("self_attn", &self.self_attn),
            ("linear1", &self.linear1),
            ("linear2", &self.linear2),
            ("norm1", &self.norm1),
            ("norm2", &self.norm2),
        ]
    }
}

impl Module for TransformerEncoderLayer {
    fn kind(&self) -> &'static str {
        "TransformerEncoderLayer"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.forward_masked(x, AttendOptions::default(), ctx)
    }
    /// With a key/value cache (see [`TransformerEncoderLayer::forward_cached`]).
    fn forward_stateful(
        &self,
        x: &Tensor,
        state: Option<&LayerState>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, LayerState)>> {
        let run = |ctx: &mut ForwardCtx<'_>| {
            let cache = LayerState::one_cache(state, "TransformerEncoderLayer")?;
            let (y, c) = self.forward_cached(x, cache, ctx)?;
            Ok((y, LayerState::Attention(vec![c])))
        };
        Some(run(ctx))
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        prefixed(&self.parts())
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.parts()
            .into_iter()
            .map(|(n, m)| (n.to_string(), m))
            .collect()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        self.self_attn.output_shape(input)
    }
    fn describe(&self) -> String {
        format!(
            "d_model={}, nhead={}, dim_feedforward={}, dropout={}, activation={:?}, norm_first={}, bias={}, causal={}",
            self.self_attn.embed_dim(),
            self.self_attn.num_heads(),
            self.opts.dim_feedforward,
            self.opts.dropout,
            self.opts.activation,
            self.opts.norm_first,
            self.opts.bias,
            self.opts.causal
        )
    }
}

/// A stack of [`TransformerEncoderLayer`]s (`layers.0`, `layers.1`, …) and an optional
/// final layer norm (`norm`), as `nn.TransformerEncoder`.
pub struct TransformerEncoder {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer>,
    /// The final norm (pre-norm stacks have one, as GPT-2's `ln_f`).
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// `num_layers` layers built alike (each with its own weights, drawn in order).
    ///
    /// Fails as [`TransformerEncoderLayer::new`] does, or when `num_layers` is 0.
    pub fn new(
        d_model: usize,
        nhead: usize,
        num_layers: usize,
        opts: EncoderLayerOptions,
        final_norm: bool,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        if num_layers == 0 {
            return Err(Error::arg(
                "TransformerEncoder",
                "num_layers must be at least 1",
            ));
        }
        let layers = (0..num_layers)
            .map(|_| TransformerEncoderLayer::new(d_model, nhead, opts, rng))
            .collect::<Result<Vec<_>>>()?;
        let norm = final_norm.then(|| layer_norm(d_model, opts.layer_norm_eps, opts.bias));
        Ok(TransformerEncoder { layers, norm })
    }

    /// The stack over `x [N, T, E]` with masks (see [`AttendOptions`]).
    pub fn forward_masked(
        &self,
        x: &Tensor,
        masks: AttendOptions<'_>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward_masked(&h, masks, ctx)?;
        }
        match &self.norm {
            Some(n) => n.forward(&h, ctx),
            None => Ok(h),
        }
    }

    /// The next piece `x [N, T, E]` of a sequence, with one key/value cache per layer
    /// (`None`: the sequence's start): the output and the caches with the new positions
    /// appended. The layers must be causal.
    ///
    /// Fails as [`MultiheadAttention::forward_cached`] does, or when the number of caches
    /// is not the number of layers.
    pub fn forward_cached(
        &self,
        x: &Tensor,
        caches: Option<&[KvCache]>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<(Tensor, Vec<KvCache>)> {
        if let Some(c) = caches {
            if c.len() != self.layers.len() {
                return Err(misfit(
                    "TransformerEncoder",
                    format!(
                        "needs {} key/value caches (one per layer), got {}",
                        self.layers.len(),
                        c.len()
                    ),
                ));
            }
        }
        let mut h = x.clone();
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let (y, c) = l.forward_cached(&h, caches.map(|c| &c[i]), ctx)?;
            h = y;
            out.push(c);
        }
        let h = match &self.norm {
            Some(n) => n.forward(&h, ctx)?,
            None => h,
        };
        Ok((h, out))
    }

    fn named(&self) -> Vec<(String, &dyn Module)> {
        let mut v: Vec<(String, &dyn Module)> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("layers.{i}"), l as &dyn Module))
            .collect();
        if let Some(n) = &self.norm {
            v.push(("norm".into(), n));
        }
        v
    }
}

impl Module for TransformerEncoder {
    fn kind(&self) -> &'static str {
        "TransformerEncoder"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.forward_masked(x, AttendOptions::default(), ctx)
    }
    /// With one key/value cache per layer (see [`TransformerEncoder::forward_cached`]).
    fn forward_stateful(
        &self,
        x: &Tensor,
        state: Option<&LayerState>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, LayerState)>> {
        let run = |ctx: &mut ForwardCtx<'_>| {
            let caches = state
                .map(|s| s.as_attention("TransformerEncoder"))
                .transpose()?;
            let (y, c) = self.forward_cached(x, caches, ctx)?;
            Ok((y, LayerState::Attention(c)))
        };
        Some(run(ctx))
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        self.named()
            .into_iter()
            .flat_map(|(n, m)| {
                m.parameters()
                    .into_iter()
                    .map(move |(p, v)| (format!("{n}.{p}"), v))
            })
            .collect()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.named()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match self.layers.first() {
            Some(l) => l.output_shape(input),
            None => Err(misfit("TransformerEncoder", "no layers".into())),
        }
    }
    fn describe(&self) -> String {
        format!(
            "num_layers={}, norm={}",
            self.layers.len(),
            self.norm.is_some()
        )
    }
}
