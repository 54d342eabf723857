//! Multi-head attention and transformer encoder layers against PyTorch 2.15: the values of
//! `transformer_golden/values.json` come from `scripts/transformer_golden.py` (PyTorch's
//! `nn.MultiheadAttention` and `nn.TransformerEncoderLayer`, `batch_first=True`); their
//! `state_dict`s load into nabla's layers by name and give the same outputs.

use nabla_core::{DType, Mt19937, Tensor, Var};
use nabla_nn::{
    Activation, AttendOptions, EncoderLayerOptions, ForwardCtx, Module, MultiheadAttention,
    TransformerEncoderLayer,
};
use serde_json::Value;

const E: usize = 4;
const H: usize = 2;
const N: usize = 2;
const L: usize = 3;

fn golden() -> Value {
    serde_json::from_str(include_str!("transformer_golden/values.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Loads a PyTorch `state_dict` (flattened values by name) into `m`, by name and shape.
fn load(m: &dyn Module, sd: &Value) {
    let params: Vec<(String, Var)> = m.parameters();
    let sd = sd.as_object().unwrap();
    let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    // (serde_json's map is sorted by name)
    assert_eq!(
        names,
        sd.keys().map(String::as_str).collect::<Vec<_>>(),
        "the state_dict names are PyTorch's"
    );
    for (name, v) in params {
        let t = Tensor::from_vec(floats(&sd[&name]), &v.shape()).unwrap();
        v.set(&t).unwrap();
    }
}

fn close(got: &Tensor, want: &[f32], what: &str) {
    let g = got.to_vec::<f32>().unwrap();
    assert_eq!(g.len(), want.len(), "{what}: length");
    let d = g
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d <= 2e-6, "{what}: max abs diff {d}\n{g:?}\n{want:?}");
}

fn x(g: &Value) -> Tensor {
    Tensor::from_vec(floats(&g["x"]), &[N, L, E]).unwrap()
}

#[test]
fn multihead_attention_matches_pytorch() {
    let g = golden();
    let mut rng = Mt19937::new(0);
    let m = MultiheadAttention::new(E, H, &mut rng).unwrap();
    load(&m, &g["mha_sd"]);
    let x = x(&g);
    let mut ctx = ForwardCtx::eval();
    let opts = AttendOptions {
        need_weights: true,
        ..AttendOptions::default()
    };
    let (y, w) = m.attend(&x, &x, &x, opts, &mut ctx).unwrap();
    close(&y, &floats(&g["mha_y"]), "output");
    close(
        &w.unwrap(),
        &floats(&g["mha_w"]),
        "weights averaged over heads",
    );
    // without the weights: the fused path gives the same output
    let y = m.forward(&x, &mut ctx).unwrap();
    close(&y, &floats(&g["mha_y"]), "fused output");
    // causal
    let causal = m.causal(true);
    close(
        &causal.forward(&x, &mut ctx).unwrap(),
        &floats(&g["mha_causal_y"]),
        "causal",
    );
}

#[test]
fn key_padding_masks_match_pytorch() {
    let g = golden();
    let mut rng = Mt19937::new(0);
    let m = MultiheadAttention::new(E, H, &mut rng).unwrap();
    load(&m, &g["mha_sd"]);
    let x = x(&g);
    // PyTorch's bool mask, True = padding: nonzero i64 here
    let kpm = Tensor::from_vec(vec![0i64, 0, 1, 0, 0, 0], &[N, L]).unwrap();
    let opts = AttendOptions {
        key_padding_mask: Some(&kpm),
        need_weights: true,
        ..AttendOptions::default()
    };
    let (y, w) = m.attend(&x, &x, &x, opts, &mut ForwardCtx::eval()).unwrap();
    close(&y, &floats(&g["mha_kpm_y"]), "output");
    close(&w.unwrap(), &floats(&g["mha_kpm_w"]), "weights");
    // the same mask as an additive float mask
    let add = Tensor::from_vec(vec![0f32, 0.0, f32::NEG_INFINITY, 0.0, 0.0, 0.0], &[N, L]).unwrap();
    let opts = AttendOptions {
        key_padding_mask: Some(&add),
        ..AttendOptions::default()
    };
    let (y, _) = m.attend(&x, &x, &x, opts, &mut ForwardCtx::eval()).unwrap();
    close(&y, &floats(&g["mha_kpm_y"]), "additive mask");
}

#[test]
fn encoder_layers_match_pytorch_post_and_pre_norm() {
    let g = golden();
    let x = x(&g);
    for nf in [0, 1] {
        let opts = EncoderLayerOptions {
            dim_feedforward: 6,
            dropout: 0.0,
            activation: Activation::GELU,
            norm_first: nf == 1,
            ..EncoderLayerOptions::default()
        };
        let mut rng = Mt19937::new(0);
        let layer = TransformerEncoderLayer::new(E, H, opts, &mut rng).unwrap();
        load(&layer, &g[format!("enc{nf}_sd")]);
        let mut ctx = ForwardCtx::eval();
        close(
            &layer.forward(&x, &mut ctx).unwrap(),
            &floats(&g[format!("enc{nf}_y")]),
            &format!("norm_first={nf}"),
        );
        let opts = AttendOptions {
            is_causal: true,
            ..AttendOptions::default()
        };
        close(
            &layer.forward_masked(&x, opts, &mut ctx).unwrap(),
            &floats(&g[format!("enc{nf}_causal_y")]),
            &format!("norm_first={nf}, causal"),
        );
    }
}

#[test]
fn bad_shapes_and_masks_are_refused() {
    let mut rng = Mt19937::new(0);
    let e = MultiheadAttention::new(6, 4, &mut rng)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("num_heads = 4 must divide embed_dim = 6"), "{e}");
    let m = MultiheadAttention::new(E, H, &mut rng).unwrap();
    let x = Tensor::zeros(&[N, L, E], DType::F32);
    let mut ctx = ForwardCtx::eval();
    let bad = Tensor::zeros(&[N, L + 1], DType::I64);
    let opts = AttendOptions {
        key_padding_mask: Some(&bad),
        ..AttendOptions::default()
    };
    let e = m
        .attend(&x, &x, &x, opts, &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(e.contains("key_padding_mask must be [2, 3]"), "{e}");
    let bad = Tensor::zeros(&[L, L], DType::F64);
    let opts = AttendOptions {
        attn_mask: Some(&bad),
        ..AttendOptions::default()
    };
    let e = m
        .attend(&x, &x, &x, opts, &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(e.contains("attn_mask must be i64"), "{e}");
    let e = m
        .forward(&Tensor::zeros(&[N, L, E + 1], DType::F32), &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(e.contains("query must be [N, T, 4]"), "{e}");
}

#[test]
fn a_fully_masked_row_gives_zeros_as_pytorch() {
    // PyTorch 2.15: F.scaled_dot_product_attention with a row of False gives 0 there
    let mut rng = Mt19937::new(3);
    let m = MultiheadAttention::new(E, H, &mut rng).unwrap();
    let x = Tensor::randn(&[1, L, E], DType::F32, &mut rng).unwrap();
    let mask = Tensor::from_vec(vec![1i64, 1, 1, 0, 0, 0, 0, 0, 0], &[L, L]).unwrap();
    let opts = AttendOptions {
        attn_mask: Some(&mask),
        ..AttendOptions::default()
    };
    let (y, _) = m.attend(&x, &x, &x, opts, &mut ForwardCtx::eval()).unwrap();
    // the first query sees no key: its heads are 0, so its output is out_proj's bias (0)
    let row: Vec<f32> = y.to_vec::<f32>().unwrap()[..E].to_vec();
    assert!(row.iter().all(|v| *v == 0.0), "{row:?}");
}
