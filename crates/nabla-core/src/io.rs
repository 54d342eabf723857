//! Reading and writing tensors in the safetensors format (what PyTorch's
//! `safetensors.torch.load_file` reads), and atomic file writes.

use crate::dtype::DType;
use crate::tensor::Tensor;
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

fn io_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {what}: {e}", path.display()))
}

/// Why `path` is not a folder to read: `None` when it is one, else `no such folder`, `is not
/// a folder`, `is a symbolic link loop` or the system's reason, for messages that name
/// what to fix.
pub fn folder_problem(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => None,
        Ok(_) => Some("is not a folder".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such folder".into()),
        Err(e) if e.raw_os_error() == Some(40) => Some("is a symbolic link loop".into()),
        Err(e) => Some(format!("cannot be opened: {e}")),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename,
/// then fsync of the folder. A reader sees the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, "cannot create", e))?;
    f.write_all(bytes)
        .map_err(|e| io_err(&tmp, "cannot write", e))?;
    f.sync_all().map_err(|e| io_err(&tmp, "cannot sync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, "cannot rename into place", e)
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn to_bytes(t: &Tensor) -> Result<(Dtype, Vec<u8>)> {
    Ok(match t.dtype() {
        DType::F32 => (
            Dtype::F32,
            t.data::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::F64 => (
            Dtype::F64,
            t.data::<f64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::I64 => (
            Dtype::I64,
            t.data::<i64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    })
}

/// The safetensors bytes of named tensors (with optional string metadata).
pub fn to_safetensors_bytes(
    tensors: &BTreeMap<String, Tensor>,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, t)| to_bytes(t).map(|(d, b)| (k.clone(), d, t.shape().to_vec(), b)))
        .collect::<Result<_>>()?;
    let views: Vec<(String, TensorView<'_>)> = raw
        .iter()
        .map(|(k, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| Error::Io(format!("safetensors: tensor {k}: {e}")))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, metadata).map_err(|e| Error::Io(format!("safetensors: {e}")))
}

/// Saves named tensors to a safetensors file, atomically.
pub fn save_safetensors(tensors: &BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    write_atomic(path, &to_safetensors_bytes(tensors, None)?)
}

/// Named tensors from safetensors bytes; `what` names the source in errors.
///
/// Fails on a truncated or corrupted file and on dtypes other than f32, f64, i64.
pub fn from_safetensors_bytes(bytes: &[u8], what: &str) -> Result<BTreeMap<String, Tensor>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::Io(format!("{what}: not a valid safetensors file ({e})")))?;
    let mut out = BTreeMap::new();
    for (name, v) in st.tensors() {
        let shape = v.shape().to_vec();
        let d = v.data();
        let bad_shape = |e: Error| Error::Io(format!("{what}: tensor {name}: {e}"));
        let t = match v.dtype() {
            Dtype::F32 => Tensor::from_vec(
                d.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect::<Vec<_>>(),
                &shape,
            )
            .map_err(bad_shape)?,
            Dtype::F64 => Tensor::from_vec(
                d.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<_>>(),
                &shape,
            )
            .map_err(bad_shape)?,
            Dtype::I64 => Tensor::from_vec(
                d.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect::<Vec<_>>(),
                &shape,
            )
            .map_err(bad_shape)?,
            other => {
                return Err(Error::Io(format!(
                    "{what}: tensor {name} has unsupported dtype {other:?}"
                )))
            }
        };
        out.insert(name, t);
    }
    Ok(out)
}

/// Loads named tensors from a safetensors file.
pub fn load_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, "cannot read", e))?;
    from_safetensors_bytes(&bytes, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = std::env::temp_dir().join(format!("nabla-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = BTreeMap::new();
        m.insert(
            "0.weight".to_string(),
            Tensor::from_vec(vec![1.5f32, -2.0, 3.25, 0.0], &[2, 2]).unwrap(),
        );
        m.insert("n".to_string(), Tensor::from_vec(vec![7i64], &[]).unwrap());
        m.insert(
            "d".to_string(),
            Tensor::from_vec(vec![0.1f64, 0.2], &[2])
                .unwrap()
                .t()
                .unwrap(),
        );
        let p = dir.join("m.safetensors");
        save_safetensors(&m, &p).unwrap();
        let back = load_safetensors(&p).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(
            back["0.weight"].to_vec::<f32>().unwrap(),
            vec![1.5, -2.0, 3.25, 0.0]
        );
        assert_eq!(back["n"].to_vec::<i64>().unwrap(), vec![7]);
        assert_eq!(back["n"].shape(), &[] as &[usize]);
        let bytes = std::fs::read(&p).unwrap();
        let e = from_safetensors_bytes(&bytes[..bytes.len() - 3], "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid safetensors"), "{e}");
        let mut bad = bytes.clone();
        bad[9] = b'#';
        assert!(from_safetensors_bytes(&bad, "x").is_err());
        assert!(load_safetensors(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Safetensors bytes of one tensor with this header entry and no data.
    fn empty_tensor_file(shape: &str) -> Vec<u8> {
        let mut h = format!(r#"{{"e":{{"dtype":"F32","shape":{shape},"data_offsets":[0,0]}}}}"#)
            .into_bytes();
        h.resize(h.len().next_multiple_of(8), b' ');
        let mut v = (h.len() as u64).to_le_bytes().to_vec();
        v.extend(h);
        v
    }

    #[test]
    fn a_shape_whose_strides_overflow_is_refused() {
        // found with the safetensors fuzz target: no element (a zero dimension), so the
        // safetensors crate accepts it, but the other dimensions' product overflows, which
        // panicked computing the strides
        for shape in [
            "[0,9223372036854775808,9223372036854775808]",
            "[4611686018427387904,0,8]",
        ] {
            let e = from_safetensors_bytes(&empty_tensor_file(shape), "m.safetensors")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("m.safetensors: tensor e: ") && e.contains("is too large"),
                "{e}"
            );
        }
        let ok = from_safetensors_bytes(&empty_tensor_file("[0,3]"), "m").unwrap();
        assert_eq!(ok["e"].shape(), &[0, 3]);
    }
}
