//! The [`Module`] trait: a layer or a network of layers.

use nabla_core::{no_grad, DType, Error, Mt19937, Result, Tensor, Var};

/// What a forward pass needs besides its input: the mode and, in training, the random stream
/// for dropout masks.
///
/// ```
/// use nabla_nn::{ForwardCtx, Linear, Module};
/// use nabla_core::{Mt19937, Tensor, DType};
/// let mut rng = Mt19937::new(0);
/// let layer = Linear::new(3, 2, &mut rng).unwrap();
/// let x = Tensor::zeros(&[4, 3], DType::F32);
/// // evaluation needs no random stream
/// let y = layer.forward(&x, &mut ForwardCtx::eval()).unwrap();
/// assert_eq!(y.shape(), &[4, 2]);
/// ```
pub struct ForwardCtx<'a> {
    /// Training mode (dropout active, batch norm uses and updates batch statistics).
    pub training: bool,
    rng: Option<&'a mut Mt19937>,
    shard: Option<BatchShard>,
}

/// Which rows of a whole batch a forward pass holds, in data-parallel training: rows
/// `offset..offset + rows` of a batch of `whole` samples that several processes split.
/// Dropout layers then draw the whole batch's mask from the stream and keep their rows, so
/// every process draws the same numbers and each sample gets the mask it would get in one
/// process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShard {
    /// The first row held.
    pub offset: usize,
    /// Rows held.
    pub rows: usize,
    /// Rows of the whole batch.
    pub whole: usize,
}

impl<'a> ForwardCtx<'a> {
    /// A training-mode context whose random draws (dropout masks) come from `rng`.
    pub fn train(rng: &'a mut Mt19937) -> Self {
        ForwardCtx {
            training: true,
            rng: Some(rng),
            shard: None,
        }
    }
    /// An evaluation-mode context (no random stream: evaluation draws nothing).
    pub fn eval() -> ForwardCtx<'static> {
        ForwardCtx {
            training: false,
            rng: None,
            shard: None,
        }
    }
    /// An evaluation-mode context that still carries a random stream (for layers that sample
    /// in evaluation, such as a VAE's reparameterization at test time).
    pub fn eval_with_rng(rng: &'a mut Mt19937) -> Self {
        ForwardCtx {
            training: false,
            rng: Some(rng),
            shard: None,
        }
    }
    /// This context for rows `shard.offset..shard.offset + shard.rows` of a whole batch
    /// split across processes (see [`BatchShard`]).
    ///
    /// Fails when the rows do not lie inside the whole batch.
    pub fn with_shard(mut self, shard: BatchShard) -> Result<Self> {
        if shard
            .offset
            .checked_add(shard.rows)
            .is_none_or(|e| e > shard.whole)
        {
            return Err(Error::Arg {
                op: "ForwardCtx::with_shard",
                msg: format!(
                    "rows {}..{} lie outside a batch of {}",
                    shard.offset,
                    shard.offset.saturating_add(shard.rows),
                    shard.whole
                ),
            });
        }
        self.shard = Some(shard);
        Ok(self)
    }
    /// The rows of the whole batch this pass holds, when it is one process's part.
    pub fn shard(&self) -> Option<BatchShard> {
        self.shard
    }
    /// The random stream.
    ///
    /// Fails when the context has none (made by [`ForwardCtx::eval`]).
    pub fn rng(&mut self) -> Result<&mut Mt19937> {
        self.rng.as_deref_mut().ok_or_else(|| Error::Arg {
            op: "forward",
            msg: "this layer draws random numbers but the context has no random stream \
                  (use ForwardCtx::train(rng) or ForwardCtx::eval_with_rng(rng))"
                .into(),
        })
    }
}

/// A layer, or a network of layers.
///
/// Parameters and buffers are reported with PyTorch's `state_dict` names in a stable order, so
/// a checkpoint maps onto the equivalent PyTorch model. Only [`Module::forward`] must be
/// written; a custom module with parameters also lists them in [`Module::parameters`].
///
/// ```
/// use nabla_nn::{ForwardCtx, Linear, Module};
/// use nabla_core::{Mt19937, Result, Tensor, DType, Var};
/// /// y = relu(x W1ᵀ) W2ᵀ with a skip connection
/// struct Residual { a: Linear, b: Linear }
/// impl Module for Residual {
///     fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
///         let h = self.a.forward(x, ctx)?.relu()?;
///         self.b.forward(&h, ctx)?.add(x)
///     }
///     fn parameters(&self) -> Vec<(String, Var)> {
///         nabla_nn::module::prefixed(&[("a", &self.a as &dyn Module), ("b", &self.b)])
///     }
/// }
/// let mut rng = Mt19937::new(0);
/// let m = Residual { a: Linear::new(4, 8, &mut rng)?, b: Linear::new(8, 4, &mut rng)? };
/// assert_eq!(m.kind(), "Residual");
/// assert_eq!(m.output_shape(&[2, 4])?, vec![2, 4]);
/// assert_eq!(m.parameters()[0].0, "a.weight");
/// # Ok::<(), nabla_core::Error>(())
/// ```
pub trait Module: Send {
    /// The layer type as PyTorch names it (`Linear`, `ReLU`, `Sequential`, ...); by default
    /// the Rust type's name without its path.
    fn kind(&self) -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }
    /// The forward pass.
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor>;
    /// Trainable parameters with their names (e.g. `weight`, `bias`; `0.weight` inside a
    /// `Sequential`), in a stable order.
    fn parameters(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// Non-trainable state saved with the model (e.g. `running_mean`).
    fn buffers(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// The output shape for an input shape (the batch dim included), or an error naming this
    /// layer and both shapes when the input does not fit.
    ///
    /// The default runs [`Module::forward`] in evaluation mode, without gradients, on zeros of
    /// that shape in the dtype of the first parameter (f32 without parameters); layers
    /// override it to answer without computing.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let dtype = self
            .parameters()
            .first()
            .map_or(DType::F32, |(_, v)| v.dtype());
        let _g = no_grad();
        let x = Tensor::zeros(input, dtype);
        Ok(self.forward(&x, &mut ForwardCtx::eval())?.shape().to_vec())
    }
    /// A one-line description of the configuration (`in_features=784, out_features=128`).
    fn describe(&self) -> String {
        String::new()
    }
    /// The model's summary for samples of `input_shape` (the batch dim left out), which
    /// displays as Keras' `model.summary()` prints it (see [`crate::Summary`]).
    ///
    /// Fails when a layer does not fit its input, naming the layer and both shapes.
    fn summary(&self, input_shape: &[usize]) -> Result<crate::Summary> {
        crate::Summary::of(self, input_shape)
    }
    /// The child modules with their names (for summaries); empty for leaf layers.
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }
    /// For layers whose output at a position depends on the positions before it (recurrent
    /// layers, positional embeddings, causal attention): the forward pass of the next piece
    /// of a sequence from the state the previous piece returned (`None`: the sequence's
    /// start), returning the output and the new state, so a sequence can be fed in pieces
    /// (sampling one token at a time). `None` for layers that treat each position alone.
    fn forward_stateful(
        &self,
        _x: &Tensor,
        _state: Option<&crate::LayerState>,
        _ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, crate::LayerState)>> {
        None
    }
    /// For a lookup layer (`Embedding`): its table, so that [`crate::Sequential`] can hand
    /// the table and the indices to the next layer's [`Module::forward_lookup`]. `None` for
    /// other layers.
    fn lookup_table(&self) -> Option<Tensor> {
        None
    }
    /// The forward pass over `table[idx]` (the rows a lookup layer would give, shape
    /// `idx.shape() + [dim]`) for layers that compute it better without the looked-up rows:
    /// the recurrent layers project the table's rows once and pick them (the same function;
    /// for a char-LM far fewer multiply-adds). `None`: no such path, feed it the rows.
    fn forward_lookup(
        &self,
        _table: &Tensor,
        _idx: &Tensor,
        _ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<Tensor>> {
        None
    }
    /// Whether this layer is an elementwise ReLU, so that [`crate::Sequential`] can run the
    /// layer before it through its [`Module::forward_relu`].
    fn is_relu(&self) -> bool {
        false
    }
    /// `relu(self.forward(x))` computed in one pass (`Conv2d`: the fused `conv2d_relu`, with
    /// the same values and gradients bit for bit). `None`: no such path.
    fn forward_relu(&self, _x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Option<Result<Tensor>> {
        None
    }
}

impl<M: Module + ?Sized> Module for Box<M> {
    fn is_relu(&self) -> bool {
        (**self).is_relu()
    }
    fn forward_relu(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Option<Result<Tensor>> {
        (**self).forward_relu(x, ctx)
    }
    fn lookup_table(&self) -> Option<Tensor> {
        (**self).lookup_table()
    }
    fn forward_lookup(
        &self,
        table: &Tensor,
        idx: &Tensor,
        ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<Tensor>> {
        (**self).forward_lookup(table, idx, ctx)
    }
    fn forward_stateful(
        &self,
        x: &Tensor,
        state: Option<&crate::LayerState>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Option<Result<(Tensor, crate::LayerState)>> {
        (**self).forward_stateful(x, state, ctx)
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        (**self).forward(x, ctx)
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        (**self).parameters()
    }
    fn buffers(&self) -> Vec<(String, Var)> {
        (**self).buffers()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        (**self).output_shape(input)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        (**self).children()
    }
}

/// `a::b::Name<c::D>` → `Name`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// The parameters of named children, each prefixed with its name (`"enc.weight"`), in order:
/// the usual body of a custom module's [`Module::parameters`].
pub fn prefixed(children: &[(&str, &dyn Module)]) -> Vec<(String, Var)> {
    children
        .iter()
        .flat_map(|(n, m)| {
            m.parameters()
                .into_iter()
                .map(move |(p, v)| (format!("{n}.{p}"), v))
        })
        .collect()
}

/// The output shape of `m` for `input` (batch first) by a forward pass on zeros of one
/// sample in evaluation mode without gradients (cheap for convolutions and pooling, whose
/// shapes follow from many parameters); the batch dim is put back.
///
/// Fails as the forward pass does (e.g. a kernel larger than the padded input).
pub fn shape_by_forward(m: &dyn Module, input: &[usize]) -> Result<Vec<usize>> {
    let mut one = input.to_vec();
    let n = one.first().copied().unwrap_or(1);
    if let Some(b) = one.first_mut() {
        *b = 1;
    }
    let _g = no_grad();
    let mut out = m
        .forward(&Tensor::zeros(&one, DType::F32), &mut ForwardCtx::eval())?
        .shape()
        .to_vec();
    if let Some(b) = out.first_mut() {
        *b = n;
    }
    Ok(out)
}

/// Number of trainable scalars in a module.
pub fn parameter_count(m: &dyn Module) -> usize {
    m.parameters().iter().map(|(_, v)| v.numel()).sum()
}

/// An error for an input that does not fit a layer.
pub fn misfit(layer: &str, msg: String) -> Error {
    Error::Shape {
        op: "forward",
        msg: format!("{layer}: {msg}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Twice;
    impl Module for Twice {
        fn forward(&self, x: &Tensor, _: &mut ForwardCtx<'_>) -> Result<Tensor> {
            x.mul_scalar(2.0)
        }
    }

    #[test]
    fn defaults_serve_custom_modules() {
        assert_eq!(Twice.kind(), "Twice");
        assert_eq!(Twice.output_shape(&[3, 5]).unwrap(), vec![3, 5]);
        let boxed: Box<dyn Module> = Box::new(Twice);
        assert_eq!(boxed.kind(), "Twice");
        assert_eq!(short_type_name("a::b::C<d::E>"), "C");
    }

    #[test]
    fn eval_context_has_no_stream() {
        let mut ctx = ForwardCtx::eval();
        assert!(!ctx.training);
        let e = ctx.rng().unwrap_err().to_string();
        assert!(e.contains("random stream"), "{e}");
        let mut r = Mt19937::new(1);
        let mut ctx = ForwardCtx::train(&mut r);
        assert!(ctx.rng().is_ok());
    }
}
