//! Fully connected layer.

use crate::init::Init;
use crate::module::{misfit, ForwardCtx, Module};
use nabla_core::{DType, Mt19937, Result, Tensor, Var};

/// `y = x Wᵀ + b` with weight `[out_features, in_features]` (PyTorch's layout) and bias
/// `[out_features]`; the input may have any number of leading dims.
pub struct Linear {
    /// `[out, in]`
    pub weight: Var,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Var>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// A layer with a bias and PyTorch's default initialization (weight and bias uniform in
    /// ±1/√in_features), f32, as `nn.Linear(in_features, out_features)`.
    pub fn new(in_features: usize, out_features: usize, rng: &mut Mt19937) -> Result<Self> {
        Self::with_init(
            in_features,
            out_features,
            true,
            Init::Default,
            DType::F32,
            rng,
        )
    }

    /// A layer without bias (`nn.Linear(in_features, out_features, bias=False)`).
    pub fn without_bias(
        in_features: usize,
        out_features: usize,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        Self::with_init(
            in_features,
            out_features,
            false,
            Init::Default,
            DType::F32,
            rng,
        )
    }

    /// A layer with a chosen weight initializer and dtype (the bias keeps PyTorch's default).
    pub fn with_init(
        in_features: usize,
        out_features: usize,
        bias: bool,
        init: Init,
        dtype: DType,
        rng: &mut Mt19937,
    ) -> Result<Self> {
        let weight = Var::new(&init.weight(&[out_features, in_features], dtype, rng)?);
        let bias = if bias {
            let bound = if in_features > 0 {
                1.0 / (in_features as f64).sqrt()
            } else {
                0.0
            };
            Some(Var::new(&Tensor::uniform(
                &[out_features],
                -bound,
                bound,
                dtype,
                rng,
            )?))
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            in_features,
            out_features,
        })
    }

    /// A layer whose weight is `weight` (`[out, in]`, shared with whoever holds it: a head
    /// tied to an embedding), with a fresh bias when `bias`.
    ///
    /// Fails when `weight` is not a matrix.
    pub fn tied(weight: Var, bias: bool, rng: &mut Mt19937) -> Result<Self> {
        let shape = weight.shape();
        let [out_features, in_features] = shape[..] else {
            return Err(nabla_core::Error::arg(
                "Linear",
                format!("a tied weight must be [out, in], got {shape:?}"),
            ));
        };
        let mut l = Self::with_init(
            in_features,
            out_features,
            bias,
            Init::Default,
            weight.dtype(),
            rng,
        )?;
        l.weight = weight;
        Ok(l)
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.in_features
    }
    /// Output features.
    pub fn out_features(&self) -> usize {
        self.out_features
    }
}

impl Module for Linear {
    fn kind(&self) -> &'static str {
        "Linear"
    }
    fn forward(&self, x: &Tensor, _ctx: &mut ForwardCtx<'_>) -> Result<Tensor> {
        self.output_shape(x.shape())?;
        let bias = self.bias.as_ref().map(Var::as_tensor);
        x.linear(&self.weight.as_tensor(), bias.as_ref())
    }
    fn parameters(&self) -> Vec<(String, Var)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match input.last() {
            Some(&d) if d == self.in_features => {
                let mut s = input.to_vec();
                *s.last_mut().unwrap_or(&mut 0) = self.out_features;
                Ok(s)
            }
            _ => Err(misfit(
                &format!("Linear({}, {})", self.in_features, self.out_features),
                format!(
                    "input {input:?} does not end in {} features",
                    self.in_features
                ),
            )),
        }
    }
    fn describe(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features,
            self.out_features,
            self.bias.is_some()
        )
    }
}
