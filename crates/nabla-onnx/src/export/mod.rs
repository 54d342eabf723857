//! The exporter: a model described by layer configs, with its weights, as an ONNX graph.

use crate::graph::{Attr, Graph};
use crate::proto::{
    data_type, tensor_shape_proto, type_proto, GraphProto, ModelProto, OperatorSetIdProto,
    StringStringEntryProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use nabla_core::{Error, Result, Tensor};
use nabla_nn::config::{GeluApproximate, Padding, Size2};
use nabla_nn::{LayerConfig, LayerInput, Module, Sequential};

mod recurrent;
mod transformer;
use recurrent::{recurrent, Cell};
use transformer::{sequence_length, transformer};

/// The oldest opset written. Layer norm and transformer layers need 17
/// (`LayerNormalization`); the other layers export from 13 on.
pub const MIN_OPSET: i64 = 13;
/// The newest opset written.
pub const MAX_OPSET: i64 = 21;
/// The default opset (PyTorch's exporter's default).
pub const DEFAULT_OPSET: i64 = 18;

/// What [`export`] is told beside the model.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// One sample's shape, batch excluded (the model's `input_shape`).
    pub input_shape: Vec<usize>,
    /// The ONNX operator set, [`MIN_OPSET`] to [`MAX_OPSET`].
    pub opset: i64,
    /// A standardizer's per-feature means and standard deviations: the graph starts with
    /// `(x - mean) / std`, so it takes raw feature values.
    pub standardize: Option<(Vec<f64>, Vec<f64>)>,
    /// Written into the model's metadata (e.g. the checkpoint exported).
    pub doc: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            input_shape: Vec::new(),
            opset: DEFAULT_OPSET,
            standardize: None,
            doc: String::new(),
        }
    }
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The model.
    pub model: ModelProto,
    /// The input's shape, batch first (`None`: the dynamic batch axis).
    pub input_shape: Vec<Option<usize>>,
    /// The output's shape, batch first.
    pub output_shape: Vec<Option<usize>>,
}

fn refuse(i: usize, kind: &str, why: impl std::fmt::Display) -> Error {
    Error::Config(format!("model.layers[{i}] ({kind}): {why}"))
}

/// The named parameters and buffers of a layer.
fn tensors(m: &dyn Module) -> Vec<(String, Tensor)> {
    m.parameters()
        .into_iter()
        .chain(m.buffers())
        .map(|(n, v)| (n, v.as_tensor()))
        .collect()
}

fn get<'a>(ts: &'a [(String, Tensor)], name: &str) -> Option<&'a Tensor> {
    ts.iter().find(|(n, _)| n == name).map(|(_, t)| t)
}

fn pair(s: Size2) -> [i64; 2] {
    let (a, b) = s.pair();
    [a as i64, b as i64]
}

/// ONNX `pads` (`[top, left, bottom, right]`) of a convolution's padding.
fn conv_pads(p: &Padding, kernel: [i64; 2], dilation: [i64; 2]) -> Vec<i64> {
    match p {
        Padding::Size(s) => {
            let [h, w] = pair(*s);
            vec![h, w, h, w]
        }
        Padding::Valid => vec![0; 4],
        Padding::Same => {
            // PyTorch's "same" (stride 1): the extra element of an odd total goes after
            let total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
            vec![
                total[0] / 2,
                total[1] / 2,
                total[0] - total[0] / 2,
                total[1] - total[1] / 2,
            ]
        }
    }
}

/// Exports `model`, built from `layers` (one module per config, in order), as an ONNX
/// model computing what the model's forward pass returns, with a dynamic batch axis.
///
/// Fails ([`Error::Config`], naming the layer) for a layer with no ONNX form or one that
/// needs a newer opset than `opts.opset`, and when the opset is out of range or the layers
/// do not fit the input shape.
pub fn export(
    layers: &[LayerConfig],
    model: &Sequential,
    opts: &ExportOptions,
) -> Result<Exported> {
    if !(MIN_OPSET..=MAX_OPSET).contains(&opts.opset) {
        return Err(Error::Config(format!(
            "--opset: {MIN_OPSET} to {MAX_OPSET} are written, got {}",
            opts.opset
        )));
    }
    if layers.len() != model.len() {
        return Err(Error::Config(format!(
            "the model has {} layers but its config {}",
            model.len(),
            layers.len()
        )));
    }
    for (i, cfg) in layers.iter().enumerate() {
        if let Some((needs, op)) = needed_opset(cfg).filter(|&(n, _)| opts.opset < n) {
            return Err(refuse(
                i,
                cfg.type_name(),
                format!(
                    "needs opset {needs} or newer ({op}), got --opset {}",
                    opts.opset
                ),
            ));
        }
    }
    let mut g = Graph::default();
    let mut shape: Vec<usize> = std::iter::once(1)
        .chain(opts.input_shape.iter().copied())
        .collect();
    let mut x = "input".to_string();
    if let Some((mean, std)) = &opts.standardize {
        let n = mean.len() as i64;
        let m: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
        let s: Vec<f32> = std.iter().map(|&v| v as f32).collect();
        let mn = g.floats("standardizer.mean", &m, &[n]);
        let sd = g.floats("standardizer.std", &s, &[n]);
        let c = g.node("Sub", &[&x, &mn], vec![], "centered");
        x = g.node("Div", &[&c, &sd], vec![], "standardized");
    }
    for (i, (cfg, m)) in layers.iter().zip(model.layers()).enumerate() {
        let kind = cfg.type_name();
        let out_shape = cfg
            .output_shape(&LayerInput::new(&shape))
            .map_err(|e| refuse(i, kind, e))?;
        let ts = tensors(m.as_ref());
        let w = |name: &str| {
            get(&ts, name).ok_or_else(|| refuse(i, kind, format!("the layer has no {name}")))
        };
        let hint = format!("{i}.{kind}");
        x = match cfg {
            LayerConfig::Linear(_) => {
                let weight = w("weight")?;
                let bias = get(&ts, "bias");
                if shape.len() == 2 {
                    let wn = g.weight(&format!("{i}.weight"), weight)?;
                    let mut ins = vec![x.as_str(), wn.as_str()];
                    let bn = bias
                        .map(|b| g.weight(&format!("{i}.bias"), b))
                        .transpose()?;
                    if let Some(b) = &bn {
                        ins.push(b);
                    }
                    let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
                    g.node("Gemm", &ins, vec![("transB", Attr::Int(1))], &hint)
                } else {
                    let wt = g.weight(&format!("{i}.weight_t"), &weight.t()?)?;
                    let y = g.node("MatMul", &[&x, &wt], vec![], &hint);
                    match bias {
                        Some(b) => {
                            let bn = g.weight(&format!("{i}.bias"), b)?;
                            g.node("Add", &[&y, &bn], vec![], &hint)
                        }
                        None => y,
                    }
                }
            }
            LayerConfig::Relu => g.node("Relu", &[&x], vec![], &hint),
            LayerConfig::Sigmoid => g.node("Sigmoid", &[&x], vec![], &hint),
            LayerConfig::Tanh => g.node("Tanh", &[&x], vec![], &hint),
            LayerConfig::LeakyRelu(c) => g.node(
                "LeakyRelu",
                &[&x],
                vec![("alpha", Attr::Float(c.negative_slope as f32))],
                &hint,
            ),
            LayerConfig::Silu => {
                let s = g.node("Sigmoid", &[&x], vec![], &hint);
                g.node("Mul", &[&x, &s], vec![], &hint)
            }
            LayerConfig::Softmax => g.node("Softmax", &[&x], vec![("axis", Attr::Int(-1))], &hint),
            LayerConfig::Gelu(c) => gelu(&mut g, &x, c.approximate, opts.opset, &hint),
            LayerConfig::Dropout(_) | LayerConfig::Dropout2d(_) => x,
            LayerConfig::Flatten(_) | LayerConfig::Permute(_) | LayerConfig::Mean(_) => {
                rearrange(&mut g, cfg, &x, &out_shape, opts.opset, &hint)
            }
            LayerConfig::LayerNorm(c) => {
                let d = *shape.last().unwrap_or(&0) as i64;
                let scale = match get(&ts, "weight") {
                    Some(t) => g.weight(&format!("{i}.weight"), t)?,
                    None => g.floats(&format!("{i}.weight"), &vec![1.0; d as usize], &[d]),
                };
                let mut ins = vec![x.clone(), scale];
                if let Some(b) = get(&ts, "bias") {
                    ins.push(g.weight(&format!("{i}.bias"), b)?);
                }
                let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
                g.node(
                    "LayerNormalization",
                    &ins,
                    vec![
                        ("axis", Attr::Int(-1)),
                        ("epsilon", Attr::Float(c.eps as f32)),
                    ],
                    &hint,
                )
            }
            LayerConfig::BatchNorm1d(c) | LayerConfig::BatchNorm2d(c) => {
                let names = ["weight", "bias", "running_mean", "running_var"];
                let mut ins = vec![x.clone()];
                for n in names {
                    ins.push(g.weight(&format!("{i}.{n}"), w(n)?)?);
                }
                let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
                g.node(
                    "BatchNormalization",
                    &ins,
                    vec![("epsilon", Attr::Float(c.eps as f32))],
                    &hint,
                )
            }
            LayerConfig::Conv2d(c) => {
                let (k, d) = (pair(c.kernel_size), pair(c.dilation));
                let attrs = vec![
                    ("kernel_shape", Attr::Ints(k.to_vec())),
                    ("strides", Attr::Ints(pair(c.stride).to_vec())),
                    ("pads", Attr::Ints(conv_pads(&c.padding, k, d))),
                    ("dilations", Attr::Ints(d.to_vec())),
                    ("group", Attr::Int(c.groups as i64)),
                ];
                conv(&mut g, "Conv", &x, &ts, i, attrs, &hint)?
            }
            LayerConfig::Conv1d(c) => {
                let (k, d) = (c.kernel_size as i64, c.dilation as i64);
                let pads = conv_pads(&c.padding, [1, k], [1, d]);
                let attrs = vec![
                    ("kernel_shape", Attr::Ints(vec![k])),
                    ("strides", Attr::Ints(vec![c.stride as i64])),
                    ("pads", Attr::Ints(vec![pads[1], pads[3]])),
                    ("dilations", Attr::Ints(vec![d])),
                    ("group", Attr::Int(c.groups as i64)),
                ];
                conv(&mut g, "Conv", &x, &ts, i, attrs, &hint)?
            }
            LayerConfig::ConvTranspose2d(c) => {
                let [ph, pw] = pair(c.padding);
                let attrs = vec![
                    ("kernel_shape", Attr::Ints(pair(c.kernel_size).to_vec())),
                    ("strides", Attr::Ints(pair(c.stride).to_vec())),
                    ("pads", Attr::Ints(vec![ph, pw, ph, pw])),
                    (
                        "output_padding",
                        Attr::Ints(pair(c.output_padding).to_vec()),
                    ),
                    ("dilations", Attr::Ints(pair(c.dilation).to_vec())),
                    ("group", Attr::Int(c.groups as i64)),
                ];
                conv(&mut g, "ConvTranspose", &x, &ts, i, attrs, &hint)?
            }
            LayerConfig::MaxPool2d(c) => {
                let attrs = pool(
                    pair(c.kernel_size).to_vec(),
                    pair(c.stride.unwrap_or(c.kernel_size)).to_vec(),
                    pair(c.padding).to_vec(),
                    c.ceil_mode,
                );
                let attrs = with(attrs, "dilations", Attr::Ints(pair(c.dilation).to_vec()));
                g.node("MaxPool", &[&x], attrs, &hint)
            }
            LayerConfig::MaxPool1d(c) => {
                let k = c.kernel_size as i64;
                let s_ = c.stride.map_or(k, |s| s as i64);
                let attrs = pool(vec![k], vec![s_], vec![c.padding as i64], c.ceil_mode);
                let attrs = with(attrs, "dilations", Attr::Ints(vec![c.dilation as i64]));
                g.node("MaxPool", &[&x], attrs, &hint)
            }
            LayerConfig::AvgPool2d(c) => {
                let attrs = pool(
                    pair(c.kernel_size).to_vec(),
                    pair(c.stride.unwrap_or(c.kernel_size)).to_vec(),
                    pair(c.padding).to_vec(),
                    c.ceil_mode,
                );
                let count = Attr::Int(c.count_include_pad as i64);
                g.node(
                    "AveragePool",
                    &[&x],
                    with(attrs, "count_include_pad", count),
                    &hint,
                )
            }
            LayerConfig::AvgPool1d(c) => {
                let k = c.kernel_size as i64;
                let s_ = c.stride.map_or(k, |s| s as i64);
                let attrs = pool(vec![k], vec![s_], vec![c.padding as i64], c.ceil_mode);
                let count = Attr::Int(c.count_include_pad as i64);
                g.node(
                    "AveragePool",
                    &[&x],
                    with(attrs, "count_include_pad", count),
                    &hint,
                )
            }
            LayerConfig::AdaptiveAvgPool2d(c) => {
                let (oh, ow) = c.output_size.pair();
                let (h, w_) = (shape[2], shape[3]);
                if (oh, ow) == (1, 1) {
                    g.node("GlobalAveragePool", &[&x], vec![], &hint)
                } else if h % oh == 0 && w_ % ow == 0 {
                    // equal windows: a plain average pooling
                    let k = vec![(h / oh) as i64, (w_ / ow) as i64];
                    let attrs = vec![
                        ("kernel_shape", Attr::Ints(k.clone())),
                        ("strides", Attr::Ints(k)),
                    ];
                    g.node("AveragePool", &[&x], attrs, &hint)
                } else {
                    return Err(refuse(
                        i,
                        kind,
                        format!(
                            "output_size {oh}x{ow} does not divide the input's {h}x{w_}: its windows overlap unevenly and ONNX has no such pooling"
                        ),
                    ));
                }
            }
            LayerConfig::Embedding(_) => {
                if i != 0 {
                    return Err(refuse(
                        i,
                        kind,
                        "an embedding is exported as the first layer only (its input is the token ids)",
                    ));
                }
                let table = g.weight(&format!("{i}.weight"), w("weight")?)?;
                g.node("Gather", &[&table, &x], vec![("axis", Attr::Int(0))], &hint)
            }
            LayerConfig::Lstm(c) => recurrent(
                &mut g,
                &x,
                &ts,
                Cell::Lstm,
                (c.hidden, c.num_layers, c.bidirectional),
                &hint,
            )?,
            LayerConfig::Gru(c) => recurrent(
                &mut g,
                &x,
                &ts,
                Cell::Gru,
                (c.hidden, c.num_layers, c.bidirectional),
                &hint,
            )?,
            LayerConfig::Rnn(c) => recurrent(
                &mut g,
                &x,
                &ts,
                Cell::Rnn(matches!(
                    c.nonlinearity,
                    nabla_nn::config::Nonlinearity::Relu
                )),
                (c.hidden, c.num_layers, c.bidirectional),
                &hint,
            )?,
            LayerConfig::PositionalEmbedding(c) => {
                // the table (learned, or the sinusoids as the module computes them), its first
                // T rows added: T read from the input, so the sequence axis stays dynamic
                let e = *shape.last().unwrap_or(&0);
                let zeros = Tensor::zeros(&[1, c.max_len, e], nabla_core::DType::F32);
                let table = m.forward(&zeros, &mut nabla_nn::ForwardCtx::eval())?;
                let table = g.weight(&format!("{i}.table"), &table.reshape(&[c.max_len, e])?)?;
                let rows = sequence_length(&mut g, &x, &hint);
                let zero = g.ints("zero", &[0], &[1]);
                let pos = g.node("Slice", &[&table, &zero, &rows, &zero], vec![], &hint);
                g.node("Add", &[&x, &pos], vec![], &hint)
            }
            LayerConfig::Transformer(c) => {
                let max_len = layers[..i].iter().rev().find_map(|l| match l {
                    LayerConfig::PositionalEmbedding(p) => Some(p.max_len),
                    _ => None,
                });
                transformer(&mut g, &x, &ts, c, &shape, max_len, &hint)?
            }
        };
        shape = out_shape;
    }
    // a token model's sequence axis is dynamic too
    let tokens = matches!(layers.first(), Some(LayerConfig::Embedding(_)));
    let dim = |(k, d): (usize, &Option<usize>)| tensor_shape_proto::Dimension {
        value: Some(match d {
            Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v as i64),
            None if k == 0 => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            None => tensor_shape_proto::dimension::Value::DimParam("sequence".into()),
        }),
    };
    let dynamic = |s: &[usize]| -> Vec<Option<usize>> {
        s.iter()
            .enumerate()
            .map(|(k, &v)| (k > 0 && !(tokens && k == 1)).then_some(v))
            .collect()
    };
    let value = |name: &str, s: &[Option<usize>], elem_type: i32| ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: s.iter().enumerate().map(dim).collect(),
                }),
            })),
        }),
    };
    let in_shape = dynamic(
        &std::iter::once(1)
            .chain(opts.input_shape.iter().copied())
            .collect::<Vec<_>>(),
    );
    let out_shape = dynamic(&shape);
    // the last value is renamed "output" by an Identity (the input may pass straight through)
    g.nodes.push(crate::proto::NodeProto {
        input: vec![x],
        output: vec!["output".into()],
        name: "output".into(),
        op_type: "Identity".into(),
        ..Default::default()
    });
    let graph = GraphProto {
        node: std::mem::take(&mut g.nodes),
        name: "nabla".into(),
        initializer: std::mem::take(&mut g.initializers),
        doc_string: String::new(),
        input: vec![value(
            "input",
            &in_shape,
            if tokens {
                data_type::INT64
            } else {
                data_type::FLOAT
            },
        )],
        output: vec![value("output", &out_shape, data_type::FLOAT)],
    };
    let model = ModelProto {
        // IR 8 is what opsets 17 and 18 ship with; ONNX Runtime reads 3 to 10
        ir_version: if opts.opset >= 21 {
            10
        } else if opts.opset >= 19 {
            9
        } else {
            8
        },
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opts.opset,
        }],
        producer_name: "nabla".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: opts.doc.clone(),
        graph: Some(graph),
        metadata_props: vec![StringStringEntryProto {
            key: "source".into(),
            value: opts.doc.clone(),
        }],
    };
    Ok(Exported {
        model,
        input_shape: in_shape,
        output_shape: out_shape,
    })
}

/// A pooling node's attributes: window, stride, the same padding before and after each
/// spatial dim, and ceil mode.
fn pool(
    kernel: Vec<i64>,
    stride: Vec<i64>,
    padding: Vec<i64>,
    ceil_mode: bool,
) -> Vec<(&'static str, Attr)> {
    let pads = padding.iter().chain(&padding).copied().collect();
    vec![
        ("kernel_shape", Attr::Ints(kernel)),
        ("strides", Attr::Ints(stride)),
        ("pads", Attr::Ints(pads)),
        ("ceil_mode", Attr::Int(ceil_mode as i64)),
    ]
}

/// `attrs` and one more.
fn with(
    mut attrs: Vec<(&'static str, Attr)>,
    name: &'static str,
    a: Attr,
) -> Vec<(&'static str, Attr)> {
    attrs.push((name, a));
    attrs
}

/// GELU: opset 20's `Gelu`, or `x · Φ(x)` from `Erf` (or `Tanh` for the tanh form) below.
fn gelu(g: &mut Graph, x: &str, approx: Option<GeluApproximate>, opset: i64, hint: &str) -> String {
    let tanh = matches!(approx, Some(GeluApproximate::Tanh));
    if opset >= 20 {
        let a = if tanh { "tanh" } else { "none" };
        return g.node("Gelu", &[x], vec![("approximate", Attr::Str(a))], hint);
    }
    let half = g.floats("half", &[0.5], &[]);
    let one = g.floats("one", &[1.0], &[]);
    let inner = if tanh {
        // tanh(√(2/π) (x + 0.044715 x³))
        let c = g.floats("c", &[(2.0 / std::f32::consts::PI).sqrt()], &[]);
        let k = g.floats("k", &[0.044715], &[]);
        let x2 = g.node("Mul", &[x, x], vec![], hint);
        let x3 = g.node("Mul", &[&x2, x], vec![], hint);
        let kx3 = g.node("Mul", &[&x3, &k], vec![], hint);
        let s = g.node("Add", &[x, &kx3], vec![], hint);
        let cs = g.node("Mul", &[&s, &c], vec![], hint);
        g.node("Tanh", &[&cs], vec![], hint)
    } else {
        let r = g.floats("inv_sqrt2", &[std::f32::consts::FRAC_1_SQRT_2], &[]);
        let xs = g.node("Mul", &[x, &r], vec![], hint);
        g.node("Erf", &[&xs], vec![], hint)
    };
    let p = g.node("Add", &[&inner, &one], vec![], hint);
    let xp = g.node("Mul", &[x, &p], vec![], hint);
    g.node("Mul", &[&xp, &half], vec![], hint)
}

/// A convolution node with the layer's weight and bias.
fn conv(
    g: &mut Graph,
    op: &str,
    x: &str,
    ts: &[(String, Tensor)],
    i: usize,
    attrs: Vec<(&str, Attr)>,
    hint: &str,
) -> Result<String> {
    let weight = get(ts, "weight")
        .ok_or_else(|| Error::Config(format!("model.layers[{i}]: the layer has no weight")))?;
    let wn = g.weight(&format!("{i}.weight"), weight)?;
    let mut ins = vec![x.to_string(), wn];
    if let Some(b) = get(ts, "bias") {
        ins.push(g.weight(&format!("{i}.bias"), b)?);
    }
    let ins: Vec<&str> = ins.iter().map(|s| &**s).collect();
    Ok(g.node(op, &ins, attrs, hint))
}

/// The opset a layer's ONNX form needs beyond [`MIN_OPSET`], and the op that needs it.
fn needed_opset(cfg: &LayerConfig) -> Option<(i64, &'static str)> {
    match cfg {
        LayerConfig::LayerNorm(_) | LayerConfig::Transformer(_) => Some((17, "LayerNormalization")),
        _ => None,
    }
}

/// Flatten, permute and mean: reshapes and reductions of a known sample shape.
fn rearrange(
    g: &mut Graph,
    cfg: &LayerConfig,
    x: &str,
    out: &[usize],
    opset: i64,
    hint: &str,
) -> String {
    match cfg {
        LayerConfig::Permute(p) => {
            let perm = p.dims.iter().map(|&d| d as i64).collect();
            g.node("Transpose", &[x], vec![("perm", Attr::Ints(perm))], hint)
        }
        LayerConfig::Mean(m) => {
            let rank = out.len() as i64 + i64::from(!m.keepdim);
            let d = if (m.dim as i64) < 0 {
                m.dim as i64 + rank
            } else {
                m.dim as i64
            };
            let keep = ("keepdims", Attr::Int(m.keepdim as i64));
            if opset >= 18 {
                let axes = g.ints("axes", &[d], &[1]);
                g.node("ReduceMean", &[x, &axes], vec![keep], hint)
            } else {
                // before opset 18 the axes are an attribute
                g.node(
                    "ReduceMean",
                    &[x],
                    vec![keep, ("axes", Attr::Ints(vec![d]))],
                    hint,
                )
            }
        }
        _ => {
            // the batch dim copied (0), the rest as the config's output shape
            let dims: Vec<i64> = std::iter::once(0)
                .chain(out[1..].iter().map(|&d| d as i64))
                .collect();
            let s = g.ints("shape", &dims, &[dims.len() as i64]);
            g.node("Reshape", &[x, &s], vec![], hint)
        }
    }
}
