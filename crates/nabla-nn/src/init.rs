//! Weight initializers with PyTorch's formulas (`torch.nn.init`).

use nabla_core::{DType, Error, Mt19937, Result, Tensor};

/// The nonlinearity that follows a layer, for [`gain`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nonlinearity {
    /// Identity / linear / conv / sigmoid: gain 1.
    Linear,
    /// Sigmoid: gain 1.
    Sigmoid,
    /// Tanh: gain 5/3.
    Tanh,
    /// ReLU: gain √2.
    Relu,
    /// Leaky ReLU with this negative slope: gain √(2 / (1 + slope²)).
    LeakyRelu(f64),
    /// SELU: gain 3/4.
    Selu,
}

/// Which fan Kaiming initialization preserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass.
    FanIn,
    /// Preserve the variance of gradients in the backward pass.
    FanOut,
}

/// `torch.nn.init.calculate_gain`.
pub fn gain(n: Nonlinearity) -> f64 {
    match n {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(a) => (2.0 / (1.0 + a * a)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// (fan_in, fan_out) of a weight shape `[out, in, *kernel]`, as PyTorch computes them.
///
/// Fails for shapes with fewer than 2 dims.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(Error::Arg {
            op: "init",
            msg: format!("fan in/out need at least 2 dims, got {shape:?}"),
        });
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

/// Uniform in `[-bound, bound)`.
pub fn uniform(shape: &[usize], bound: f64, dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
    Tensor::uniform(shape, -bound, bound, dtype, rng)
}

/// Xavier/Glorot uniform: bound = gain · √(6 / (fan_in + fan_out)).
pub fn xavier_uniform(
    shape: &[usize],
    gain: f64,
    dtype: DType,
    rng: &mut Mt19937,
) -> Result<Tensor> {
    let (fi, fo) = fans(shape)?;
    uniform(shape, gain * (6.0 / (fi + fo) as f64).sqrt(), dtype, rng)
}

/// Xavier/Glorot normal: std = gain · √(2 / (fan_in + fan_out)).
pub fn xavier_normal(
    shape: &[usize],
    gain: f64,
    dtype: DType,
    rng: &mut Mt19937,
) -> Result<Tensor> {
    let (fi, fo) = fans(shape)?;
    Tensor::normal(
        shape,
        0.0,
        gain * (2.0 / (fi + fo) as f64).sqrt(),
        dtype,
        rng,
    )
}

fn kaiming_std(shape: &[usize], mode: FanMode, n: Nonlinearity) -> Result<f64> {
    let (fi, fo) = fans(shape)?;
    let fan = match mode {
        FanMode::FanIn => fi,
        FanMode::FanOut => fo,
    };
    Ok(gain(n) / (fan.max(1) as f64).sqrt())
}

/// Kaiming/He uniform: bound = √3 · gain / √fan.
pub fn kaiming_uniform(
    shape: &[usize],
    mode: FanMode,
    n: Nonlinearity,
    dtype: DType,
    rng: &mut Mt19937,
) -> Result<Tensor> {
    let std = kaiming_std(shape, mode, n)?;
    uniform(shape, 3f64.sqrt() * std, dtype, rng)
}

/// Kaiming/He normal: std = gain / √fan.
pub fn kaiming_normal(
    shape: &[usize],
    mode: FanMode,
    n: Nonlinearity,
    dtype: DType,
    rng: &mut Mt19937,
) -> Result<Tensor> {
    let std = kaiming_std(shape, mode, n)?;
    Tensor::normal(shape, 0.0, std, dtype, rng)
}

/// LeCun normal: std = 1 / √fan_in.
pub fn lecun_normal(shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
    kaiming_normal(shape, FanMode::FanIn, Nonlinearity::Linear, dtype, rng)
}

/// LeCun uniform: bound = √(3 / fan_in).
pub fn lecun_uniform(shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
    kaiming_uniform(shape, FanMode::FanIn, Nonlinearity::Linear, dtype, rng)
}

/// Zeros.
pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros(shape, dtype)
}

/// Ones.
pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::ones(shape, dtype)
}

/// A constant.
pub fn constant(shape: &[usize], value: f64, dtype: DType) -> Tensor {
    Tensor::full(value, shape, dtype)
}

/// An initializer chosen by name (configs use these names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// PyTorch's default for the layer (Linear: kaiming_uniform with a = √5).
    Default,
    /// [`xavier_uniform`] with gain 1.
    XavierUniform,
    /// [`xavier_normal`] with gain 1.
    XavierNormal,
    /// [`kaiming_uniform`] for ReLU, fan in.
    KaimingUniform,
    /// [`kaiming_normal`] for ReLU, fan in.
    KaimingNormal,
    /// [`lecun_normal`].
    LecunNormal,
    /// [`lecun_uniform`].
    LecunUniform,
    /// Zeros.
    Zeros,
    /// Ones.
    Ones,
    /// A constant.
    Constant(f64),
}

impl Init {
    /// Parses a config name (`xavier_uniform`, `kaiming_normal`, ...).
    pub fn parse(name: &str) -> Option<Init> {
        Some(match name {
            "default" => Init::Default,
            "xavier_uniform" | "glorot_uniform" => Init::XavierUniform,
            "xavier_normal" | "glorot_normal" => Init::XavierNormal,
            "kaiming_uniform" | "he_uniform" => Init::KaimingUniform,
            "kaiming_normal" | "he_normal" => Init::KaimingNormal,
            "lecun_normal" => Init::LecunNormal,
            "lecun_uniform" => Init::LecunUniform,
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            _ => return None,
        })
    }

    /// The config name (`xavier_uniform`, ...); `constant` for [`Init::Constant`].
    pub fn name(self) -> &'static str {
        match self {
            Init::Default => "default",
            Init::XavierUniform => "xavier_uniform",
            Init::XavierNormal => "xavier_normal",
            Init::KaimingUniform => "kaiming_uniform",
            Init::KaimingNormal => "kaiming_normal",
            Init::LecunNormal => "lecun_normal",
            Init::LecunUniform => "lecun_uniform",
            Init::Zeros => "zeros",
            Init::Ones => "ones",
            Init::Constant(_) => "constant",
        }
    }

    /// Draws a weight of `shape`; `Default` uses PyTorch's Linear/Conv default.
    pub fn weight(self, shape: &[usize], dtype: DType, rng: &mut Mt19937) -> Result<Tensor> {
        match self {
            Init::Default => kaiming_uniform(
                shape,
                FanMode::FanIn,
                Nonlinearity::LeakyRelu(5f64.sqrt()),
                dtype,
                rng,
            ),
            Init::XavierUniform => xavier_uniform(shape, 1.0, dtype, rng),
            Init::XavierNormal => xavier_normal(shape, 1.0, dtype, rng),
            Init::KaimingUniform => {
                kaiming_uniform(shape, FanMode::FanIn, Nonlinearity::Relu, dtype, rng)
            }
            Init::KaimingNormal => {
                kaiming_normal(shape, FanMode::FanIn, Nonlinearity::Relu, dtype, rng)
            }
            Init::LecunNormal => lecun_normal(shape, dtype, rng),
            Init::LecunUniform => lecun_uniform(shape, dtype, rng),
            Init::Zeros => Ok(zeros(shape, dtype)),
            Init::Ones => Ok(ones(shape, dtype)),
            Init::Constant(c) => Ok(constant(shape, c, dtype)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &Tensor) -> (f64, f64, f64) {
        let v = t.to_vec_f64();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let maxabs = v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        (mean, var.sqrt(), maxabs)
    }

    #[test]
    fn gains_and_fans() {
        assert_eq!(gain(Nonlinearity::Relu), 2f64.sqrt());
        assert_eq!(gain(Nonlinearity::Tanh), 5.0 / 3.0);
        assert!((gain(Nonlinearity::LeakyRelu(5f64.sqrt())) - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(fans(&[10, 4, 3, 3]).unwrap(), (36, 90));
        assert!(fans(&[5]).is_err());
    }

    #[test]
    fn distributions_have_the_documented_spread() {
        let mut rng = Mt19937::new(0);
        let shape = [400, 300];
        let t = xavier_uniform(&shape, 1.0, DType::F64, &mut rng).unwrap();
        let bound = (6.0f64 / 700.0).sqrt();
        let (m, s, a) = stats(&t);
        assert!(a <= bound && m.abs() < 0.01 && (s - bound / 3f64.sqrt()).abs() < 0.01 * bound);
        let t = kaiming_normal(
            &shape,
            FanMode::FanIn,
            Nonlinearity::Relu,
            DType::F64,
            &mut rng,
        )
        .unwrap();
        let (_, s, _) = stats(&t);
        assert!((s - (2.0f64 / 300.0).sqrt()).abs() < 0.02 * s);
        let t = Init::Default.weight(&shape, DType::F64, &mut rng).unwrap();
        let (_, _, a) = stats(&t);
        assert!(a <= 1.0 / 300f64.sqrt());
        let t = lecun_normal(&shape, DType::F64, &mut rng).unwrap();
        let (_, s, _) = stats(&t);
        assert!((s - (1.0f64 / 300.0).sqrt()).abs() < 0.02 * s);
        assert_eq!(Init::parse("he_normal"), Some(Init::KaimingNormal));
        assert_eq!(Init::parse("nope"), None);
    }
}
