//! What the ranks of a data-parallel experiment check between them: the same config (and
//! seed), and the same data.

use crate::config::ExperimentConfig;
use crate::data::Data;
use nabla_core::Error;
use nabla_core::{DType, Tensor};
use nabla_data::TensorDataset;

/// The config as every rank must hold it: the TOML of `cfg` without the keys that may
/// differ between hosts (`data.path`, where the data lie on each host; `train.out_dir`,
/// written by rank 0 alone; `train.progress`).
///
/// Fails when the config cannot be written as TOML.
pub fn canonical_config(cfg: &ExperimentConfig) -> Result<String, Error> {
    let mut c = cfg.clone();
    c.data.path = None;
    c.train.out_dir = None;
    c.train.progress = None;
    c.to_toml()
}

/// The keys in which two canonical configs differ, as `key = own (rank 0: root's)`, up to
/// four; `own` is this rank's TOML, `root` rank 0's.
pub fn config_difference(own: &str, root: &str) -> String {
    let flat = |text: &str| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(t) = text.parse::<toml::Table>() {
            crate::resume::flatten("", &toml::Value::Table(t), &mut out);
        }
        out
    };
    let (a, b) = (flat(own), flat(root));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let absent = "(absent)".to_string();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{k} = {} (rank 0: {})",
                a.get(k).unwrap_or(&absent),
                b.get(k).unwrap_or(&absent)
            )
        })
        .collect();
    let shown = if diffs.is_empty() {
        "its text".to_string()
    } else if diffs.len() > 4 {
        format!(
            "{}, and {} more keys",
            diffs[..4].join(", "),
            diffs.len() - 4
        )
    } else {
        diffs.join(", ")
    };
    format!(
        "this rank's config differs from rank 0's: {shown}; every rank must run the same \
         config and seed"
    )
}

/// A fingerprint of the data (the samples of every part, their shapes and the number of
/// outputs), so ranks that read different files on their hosts are stopped.
///
/// Fails when a tensor cannot be read.
pub fn data_fingerprint(d: &Data) -> Result<u64, Error> {
    let mut parts: Vec<Vec<u8>> =
        vec![format!("{:?} {} {}", d.input_shape, d.outputs, d.val.is_some()).into_bytes()];
    for ds in [Some(&d.train), d.val.as_ref(), Some(&d.test)]
        .into_iter()
        .flatten()
    {
        parts.push(tensor_digest(ds)?);
    }
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    Ok(nabla_train::distributed::fingerprint(&refs))
}

/// A digest of a dataset's tensors: shapes and a hash of their values' bits.
fn tensor_digest(ds: &TensorDataset) -> Result<Vec<u8>, Error> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| {
        h ^= w;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for t in [ds.x(), ds.y()] {
        for &d in t.shape() {
            mix(d as u64);
        }
        words(t, &mut mix)?;
    }
    Ok(h.to_le_bytes().to_vec())
}

fn words(t: &Tensor, mix: &mut impl FnMut(u64)) -> Result<(), Error> {
    match t.dtype() {
        DType::F32 => t
            .data::<f32>()?
            .iter()
            .for_each(|v| mix(u64::from(v.to_bits()))),
        DType::I64 => t.data::<i64>()?.iter().for_each(|&v| mix(v as u64)),
        _ => t.to_vec_f64().iter().for_each(|v| mix(v.to_bits())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_keys() {
        let a = ExperimentConfig::digits_mlp();
        let mut b = a.clone();
        b.train.seed = 3;
        b.data.path = Some("elsewhere".into());
        b.train.progress = Some(nabla_train::ProgressMode::Plain);
        let (ta, tb) = (canonical_config(&a).unwrap(), canonical_config(&b).unwrap());
        let msg = config_difference(&tb, &ta);
        assert!(msg.contains("train.seed = 3 (rank 0: 0)"), "{msg}");
        assert!(
            !msg.contains("data.path") && !msg.contains("progress"),
            "{msg}"
        );
        b.train.seed = 0;
        assert_eq!(canonical_config(&b).unwrap(), ta);
        b.train.batch_size = 7;
        b.train.clip_grad_norm = Some(1.0);
        let msg = config_difference(&canonical_config(&b).unwrap(), &ta);
        assert!(msg.contains("train.batch_size = 7 (rank 0: 32)"), "{msg}");
        assert!(
            msg.contains("train.clip_grad_norm = 1.0 (rank 0: (absent))"),
            "{msg}"
        );
    }
}
