//! Every layer config answers what the layer it builds does: the output shape (without
//! allocating) equals the built module's on real data, and the parameter count equals the
//! module's, for random configs and inputs of every layer type. TOML is the serde form.

use nabla_core::{DType, Mt19937, Tensor};
use nabla_nn::config::LayerCounts;
use nabla_nn::{ForwardCtx, LayerConfig, LayerInput, Module};
use proptest::prelude::*;

/// Builds `cfg` for `shape` and checks shape and counts against the module; an input the
/// config refuses must be refused by the module too.
fn check(cfg: &LayerConfig, shape: &[usize], tokens: Option<usize>) {
    let input = LayerInput { shape, tokens };
    let mut rng = Mt19937::new(7);
    let want = cfg.output_shape(&input);
    let built = cfg.build(&input, &mut rng);
    let (Ok(m), Ok(want)) = (&built, &want) else {
        // a config that cannot build or does not fit: the module must not run either
        if let Ok(m) = built {
            let x = input_tensor(shape, tokens, &mut rng);
            assert!(
                m.forward(&x, &mut ForwardCtx::eval()).is_err(),
                "{cfg:?} {shape:?}: the config refused ({want:?}) but the module ran"
            );
        }
        return;
    };
    let x = input_tensor(shape, tokens, &mut rng);
    let y = m
        .forward(&x, &mut ForwardCtx::eval())
        .unwrap_or_else(|e| panic!("{cfg:?} {shape:?}: {e}"));
    assert_eq!(y.shape(), &want[..], "{cfg:?} {shape:?}");
    let counts = cfg.counts(&input).unwrap();
    let params: usize = m.parameters().iter().map(|(_, v)| v.numel()).sum();
    let buffers: usize = m.buffers().iter().map(|(_, v)| v.numel()).sum();
    assert_eq!(
        counts,
        LayerCounts {
            params: params as u128,
            buffers: buffers as u128
        },
        "{cfg:?} {shape:?}"
    );
}

fn input_tensor(shape: &[usize], tokens: Option<usize>, rng: &mut Mt19937) -> Tensor {
    match tokens {
        Some(v) => {
            let n: usize = shape.iter().product();
            let idx: Vec<i64> = (0..n).map(|_| rng.below(v as u64) as i64).collect();
            Tensor::from_vec(idx, shape).unwrap()
        }
        None => Tensor::randn(shape, DType::F32, rng).unwrap(),
    }
}

fn parse(toml_layer: &str) -> LayerConfig {
    #[derive(serde::Deserialize)]
    struct One {
        layer: LayerConfig,
    }
    let one: One = toml::from_str(&format!("layer = {toml_layer}"))
        .unwrap_or_else(|e| panic!("{toml_layer}: {e}"));
    one.layer
        .validate()
        .unwrap_or_else(|e| panic!("{toml_layer}: {e}"));
    one.layer
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv2d_configs(out in 1usize..5, k in 1usize..4, s in 1usize..3, p in 0usize..3,
                      d in 1usize..3, g in 1usize..3, bias: bool, c in 1usize..3,
                      h in 1usize..9, w in 1usize..9, same: bool) {
        let pad = if same && s == 1 { "\"same\"".to_string() } else { p.to_string() };
        let cfg = parse(&format!(
            "{{ type = \"conv2d\", out = {}, kernel_size = [{k}, {}], stride = {s}, padding = {pad}, dilation = {d}, groups = {g}, bias = {bias} }}",
            out * g, k + 1
        ));
        check(&cfg, &[2, c * g, h, w], None);
    }

    #[test]
    fn conv1d_and_transposed_configs(out in 1usize..5, k in 1usize..4, s in 1usize..3,
                                     p in 0usize..3, d in 1usize..3, c in 1usize..4,
                                     l in 1usize..10, op in 0usize..2) {
        let cfg = parse(&format!(
            "{{ type = \"conv1d\", out = {out}, kernel_size = {k}, stride = {s}, padding = {p}, dilation = {d} }}"
        ));
        check(&cfg, &[2, c, l], None);
        let cfg = parse(&format!(
            "{{ type = \"conv_transpose2d\", out = {out}, kernel_size = {k}, stride = {s}, padding = {p}, output_padding = {op}, dilation = {d} }}"
        ));
        check(&cfg, &[2, c, l, l + 1], None);
    }

    #[test]
    fn pooling_configs(k in 1usize..4, s in 1usize..4, p in 0usize..2, d in 1usize..3,
                       ceil: bool, include: bool, h in 1usize..10, w in 1usize..10,
                       o in 1usize..4) {
        let p = p.min(k / 2);
        check(&parse(&format!("{{ type = \"max_pool2d\", kernel_size = {k}, stride = {s}, padding = {p}, dilation = {d}, ceil_mode = {ceil} }}")), &[1, 2, h, w], None);
        check(&parse(&format!("{{ type = \"avg_pool2d\", kernel_size = [{k}, 1], stride = {s}, padding = [{p}, 0], ceil_mode = {ceil}, count_include_pad = {include} }}")), &[1, 2, h, w], None);
        check(&parse(&format!("{{ type = \"max_pool1d\", kernel_size = {k}, stride = {s}, padding = {p}, dilation = {d}, ceil_mode = {ceil} }}")), &[1, 2, w], None);
        check(&parse(&format!("{{ type = \"avg_pool1d\", kernel_size = {k}, padding = {p}, ceil_mode = {ceil} }}")), &[1, 2, w], None);
        check(&parse(&format!("{{ type = \"adaptive_avg_pool2d\", output_size = [{o}, {}] }}", o + 1)), &[1, 2, h, w], None);
    }

    #[test]
    fn recurrent_configs(hidden in 1usize..6, layers in 1usize..3, bi: bool, bias: bool,
                         t in 1usize..5, f in 1usize..5, kind in 0usize..3) {
        let ty = ["lstm", "gru", "rnn"][kind];
        let cfg = parse(&format!(
            "{{ type = \"{ty}\", hidden = {hidden}, num_layers = {layers}, bidirectional = {bi}, bias = {bias} }}"
        ));
        check(&cfg, &[2, t, f], None);
    }

    #[test]
    fn dense_configs(out in 1usize..6, f in 1usize..6, dim in 1usize..5, v in 1usize..9,
                     bias: bool, t in 1usize..4) {
        check(&parse(&format!("{{ type = \"linear\", out = {out}, bias = {bias}, init = \"xavier_uniform\" }}")), &[3, f], None);
        check(&parse(&format!("{{ type = \"linear\", out = {out} }}")), &[3, t, f], None);
        check(&parse(&format!("{{ type = \"embedding\", dim = {dim} }}")), &[2, t], Some(v));
        check(&parse("{ type = \"layer_norm\" }"), &[3, t, f], None);
        check(&parse(&format!("{{ type = \"layer_norm\", bias = {bias} }}")), &[3, f], None);
        check(&parse("{ type = \"batch_norm1d\", momentum = 0.2 }"), &[3, f], None);
        check(&parse("{ type = \"batch_norm2d\" }"), &[3, f, t, t], None);
        check(&parse("{ type = \"flatten\" }"), &[3, f, t, 2], None);
        check(&parse("{ type = \"flatten\", start_dim = 2 }"), &[3, f, t, 2], None);
        for a in ["relu", "sigmoid", "tanh", "silu", "softmax", "gelu"] {
            check(&parse(&format!("{{ type = \"{a}\" }}")), &[3, f], None);
        }
        check(&parse("{ type = \"gelu\", approximate = \"tanh\" }"), &[3, f], None);
        check(&parse("{ type = \"leaky_relu\", negative_slope = 0.2 }"), &[3, f], None);
        check(&parse("{ type = \"dropout\", p = 0.5 }"), &[3, f], None);
        check(&parse("{ type = \"dropout2d\", p = 0.5 }"), &[3, f, t, t], None);
    }

    #[test]
    fn sequence_configs(layers in 1usize..3, heads in 1usize..4, per_head in 1usize..3,
                        ff in 1usize..7, t in 1usize..5, max_len in 1usize..6,
                        norm_first: bool, causal: bool, bias: bool, gelu: bool,
                        final_norm in 0usize..3, sinus: bool, keep: bool) {
        let e = heads * per_head;
        let act = if gelu { "gelu" } else { "relu" };
        let fin = ["", ", final_norm = true", ", final_norm = false"][final_norm];
        check(&parse(&format!(
            "{{ type = \"transformer\", layers = {layers}, heads = {heads}, dim_feedforward = {ff}, \
             dropout = 0.0, activation = \"{act}\", norm_first = {norm_first}, causal = {causal}, \
             bias = {bias}{fin} }}"
        )), &[2, t, e], None);
        // heads that do not divide the width are refused by the config and the module
        check(&parse(&format!("{{ type = \"transformer\", layers = 1, heads = {} }}", e + 1)), &[2, t, e], None);
        let kind = if sinus { "sinusoidal" } else { "learned" };
        check(&parse(&format!("{{ type = \"positional_embedding\", max_len = {max_len}, kind = \"{kind}\" }}")), &[2, t, e], None);
        check(&parse("{ type = \"permute\", dims = [0, 2, 1] }"), &[2, t, e], None);
        check(&parse(&format!("{{ type = \"mean\", dim = 1, keepdim = {keep} }}")), &[2, t, e], None);
        check(&parse("{ type = \"mean\", dim = -1 }"), &[2, t, e], None);
    }
}

#[test]
fn closed_sets_refuse_other_words_and_say_what_is_allowed() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct One {
        layer: LayerConfig,
    }
    for (layer, words) in [
        (
            "{ type = \"conv2d\", out = 1, kernel_size = 3, padding = \"full\" }",
            "\"same\" or \"valid\"",
        ),
        ("{ type = \"gelu\", approximate = \"fast\" }", "none"),
        (
            "{ type = \"rnn\", hidden = 2, nonlinearity = \"sigmoid\" }",
            "tanh",
        ),
        (
            "{ type = \"linear\", out = 2, init = \"glorious\" }",
            "xavier_uniform",
        ),
    ] {
        let e = toml::from_str::<One>(&format!("layer = {layer}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(words), "{layer}: {e}");
    }
}

#[test]
fn a_config_round_trips_through_toml() {
    let cfg = parse(
        "{ type = \"conv2d\", out = 8, kernel_size = [3, 5], padding = \"same\", init = 1 }"
            .replace(", init = 1", "")
            .as_str(),
    );
    #[derive(serde::Serialize, serde::Deserialize)]
    struct One {
        layer: LayerConfig,
    }
    let text = toml::to_string(&One { layer: cfg.clone() }).unwrap();
    let back: One = toml::from_str(&text).unwrap();
    assert_eq!(back.layer, cfg, "{text}");
}
