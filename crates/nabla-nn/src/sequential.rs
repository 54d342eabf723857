//! A chain of modules.

use crate::module::{ForwardCtx, Module};
use nabla_core::{Result, Tensor, Var};

/// Applies its modules in order; parameters are named `"{index}.{name}"` as in PyTorch's
/// `nn.Sequential`.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends a module (builder style, like PyTorch's `append`).
    pub fn append(mut self, m: impl Module + 'static) -> Self {
        self.layers.push(Box::new(m));
        self
    }
    /// Appends a boxed module.
    pub fn push(&mut self, m: Box<dyn Module>) {
        self.layers.push(m);
    }
    /// The modules.
    pub fn layers(&self) -> &[Box<dyn Module>] {
        &self.layers
    }
    /// Number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }
    /// Whether there are no modules.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
    /// The forward pass carrying the states of its stateful layers (recurrent layers,
    /// positional embeddings, causal attention; see [`Module::forward_stateful`]):
    /// `states[i]` is layer `i`'s state (None: the sequence's start), replaced by its new
    /// state, so a sequence can be fed in pieces (e.g. one token at a time when sampling).
    /// Stateless layers run as usual.
    ///
    /// Fails as the layers do; `states` is resized to the number of layers.
    pub fn forward_with_states(
        &self,
        x: &Tensor,
        states: &mut Vec<Option<crate::LayerState>>,
        ctx: &mut ForwardCtx<'_>,
    ) -> Result<Tensor> {
        states.resize(self.layers.len(), None);
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            let wrap = |e: nabla_core::Error| e.context(format!("layer {i} ({})", l.kind()));
            h = match l.forward_stateful(&h, states[i].as_ref(), ctx) {
                Some(r) => {
                    let (y, s) = r.map_err(wrap)?;
                    states[i] = Some(s);
                    y
                }
                None => l.forward(&h, ctx).map_err(wrap)?,
            };
        }
        Ok(h)
    }
}

impl Module for Sequential {
    fn kind(&self) -> &'static str {
        "Sequential"
    }
    fn forward(&self, x: &Tensor, ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        let mut h = x.clone();
        let mut i = 0;
        while i < self.layers.len() {
            let l = &self.layers[i];
            // a lookup followed by a layer that takes the table and indices directly
            if let (Some(table), Some(next)) = (l.lookup_table(), self.layers.get(i + 1)) {
                let _path = nabla_core::anomaly::scope(i + 1, next.kind());
                if let Some(r) = next.forward_lookup(&table, &h, ctx) {
                    let what = format!("layers {i}-{} ({}, {})", i + 1, l.kind(), next.kind());
                    h = r.map_err(|e| e.context(what))?;
                    i += 2;
                    continue;
                }
            }
            // a layer followed by ReLU that computes both in one pass (Conv2d), unless the
            // ReLU's output is inspected on its own (health statistics, anomaly paths)
            let fuse = self.layers.get(i + 1).is_some_and(|n| n.is_relu())
                && !crate::health::collecting()
                && !nabla_core::anomaly::is_anomaly_enabled();
            if fuse {
                let _path = nabla_core::anomaly::scope(i, l.kind());
                if let Some(r) = l.forward_relu(&h, ctx) {
                    // only the layer itself can fail
                    h = r.map_err(|e| e.context(format!("layer {i} ({})", l.kind())))?;
                    i += 2;
                    continue;
                }
            }
            let _path = nabla_core::anomaly::scope(i, l.kind());
            h = l
                .forward(&h, ctx)
                .map_err(|e| e.context(format!("layer {i} ({})", l.kind())))?;
            i += 1;
        }
        Ok(h)
    }
    /// Each parameter once: a weight shared by two layers (a tied head) is listed under the
    /// first layer that holds it, so the optimizer, the checkpoint and the health monitor see
    /// it once.
    fn parameters(&self) -> Vec<(String, Var)> {
        let mut seen = std::collections::HashSet::new();
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.parameters()
                    .into_iter()
                    .map(move |(n, v)| (format!("{i}.{n}"), v))
            })
            .filter(|(_, v)| seen.insert(v.as_tensor().id()))
            .collect()
    }
    fn buffers(&self) -> Vec<(String, Var)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.buffers()
                    .into_iter()
                    .map(move |(n, v)| (format!("{i}.{n}"), v))
            })
            .collect()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let mut s = input.to_vec();
        for (i, l) in self.layers.iter().enumerate() {
            s = l
                .output_shape(&s)
                .map_err(|e| e.context(format!("layer {i} ({})", l.kind())))?;
        }
        Ok(s)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.as_ref() as &dyn Module))
            .collect()
    }
}
