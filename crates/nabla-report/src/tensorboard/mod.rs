//! TensorBoard event files: `[train] tensorboard = true` (or `nabla train --tensorboard`)
//! writes `events.out.tfevents.<secs>.<hostname>` into the run folder, readable by
//! TensorBoard (`tensorboard --logdir runs`) and by its Python event reader.
//!
//! - scalars at each epoch's end (the step is the global optimizer step): `loss/train`,
//!   `loss/val`, `accuracy/train`, `accuracy/val`, `bpc/*`, `r2/val`, `mae/val`,
//!   `rmse/val`, `lr`;
//! - at each health step (every `train.health_every` steps): `grad_norm/global`,
//!   `grad_norm/<param>`, `update_ratio/<param>`, `dead_fraction/<layer>`,
//!   `saturated_fraction/<layer>`, and histograms `weights/<param>` and `grads/<param>`.
//!
//! The messages are hand-written `prost` structs with TensorFlow's field numbers
//! ([`proto`]); the records use TFRecord framing with masked CRC-32C ([`record`]).

pub mod proto;
pub mod record;

pub use nabla_train::Histogram;

use nabla_core::Error;
use nabla_train::callback::{Callback, FitStart};
use nabla_train::checkpoint::EpochMetrics;
use nabla_train::health::HealthRecord;
use prost::Message;
use proto::{Event, Summary, SummaryValue, Value, What};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The first record's `file_version`.
pub const FILE_VERSION: &str = "brain.Event:2";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// This machine's name (`/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`), with
/// characters outside `[A-Za-z0-9._-]` replaced; `localhost` when none is known.
pub fn hostname() -> String {
    let raw = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

/// The TensorBoard observer of a run: an event file in the run folder (created when the run
/// starts), with each health record's scalars and histograms and each epoch's scalars. A run
/// without a folder (or a rank other than 0) writes nothing.
#[derive(Default)]
pub struct TensorBoard {
    writer: Option<EventWriter>,
}

impl TensorBoard {
    /// The event file written, once the run has started.
    pub fn path(&self) -> Option<&Path> {
        self.writer.as_ref().map(EventWriter::path)
    }
}

impl Callback for TensorBoard {
    fn wants_histograms(&self) -> bool {
        true
    }
    fn on_fit_start(&mut self, run: &FitStart<'_>) -> Result<(), Error> {
        if let (None, Some(dir)) = (&self.writer, run.out_dir) {
            self.writer = Some(EventWriter::create(dir)?);
        }
        Ok(())
    }
    fn on_health(&mut self, h: &HealthRecord, _: &[HealthRecord]) -> Result<(), Error> {
        match &mut self.writer {
            Some(w) => w.add_health(h),
            None => Ok(()),
        }
    }
    fn on_epoch_end(&mut self, row: &EpochMetrics, _: &[EpochMetrics]) -> Result<(), Error> {
        match &mut self.writer {
            Some(w) => w.add_epoch(row),
            None => Ok(()),
        }
    }
}

/// Writes one TensorBoard event file.
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.<secs>.<hostname>` (with `.2`, `.3`, ... appended
    /// when that file exists: a resumed run in the same second) and writes its first record,
    /// the file version.
    ///
    /// Fails when the file cannot be created or written.
    pub fn create(dir: &Path) -> Result<Self, Error> {
        let secs = now() as u64;
        let base = format!("events.out.tfevents.{secs}.{}", hostname());
        let mut path = dir.join(&base);
        let mut k = 2;
        while path.exists() {
            path = dir.join(format!("{base}.{k}"));
            k += 1;
        }
        let f = File::create(&path)
            .map_err(|e| Error::Io(format!("{}: cannot create: {e}", path.display())))?;
        let mut w = EventWriter {
            path,
            file: BufWriter::new(f),
        };
        w.write_event(&Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion(FILE_VERSION.into())),
        })?;
        w.flush()?;
        Ok(w)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Io(format!("{}: cannot write: {e}", self.path.display()))
    }

    /// Writes one event record.
    pub fn write_event(&mut self, e: &Event) -> Result<(), Error> {
        let bytes = record::frame(&e.encode_to_vec());
        self.file.write_all(&bytes).map_err(|e| self.io(e))
    }

    /// Writes the values as one summary event at `step`.
    pub fn write_summary(&mut self, step: u64, value: Vec<SummaryValue>) -> Result<(), Error> {
        if value.is_empty() {
            return Ok(());
        }
        self.write_event(&Event {
            wall_time: now(),
            step: step as i64,
            what: Some(What::Summary(Summary { value })),
        })
    }

    /// Writes scalars at `step` (non-finite values too: TensorBoard shows NaN and ±inf).
    pub fn add_scalars(&mut self, step: u64, scalars: &[(String, f64)]) -> Result<(), Error> {
        let value = scalars.iter().map(|(t, v)| scalar(t, *v)).collect();
        self.write_summary(step, value)
    }

    /// Writes a histogram at `step`.
    pub fn add_histogram(&mut self, tag: &str, h: &Histogram, step: u64) -> Result<(), Error> {
        self.write_summary(step, vec![histo(tag, h)])
    }

    /// An epoch's scalars (at its last step): losses, accuracies, bits per token, the
    /// regression metrics, the learning rate; then flushes the file.
    pub fn add_epoch(&mut self, m: &EpochMetrics) -> Result<(), Error> {
        let mut s = vec![("loss/train".to_string(), m.train_loss)];
        let opt = [
            ("loss/val", m.val_loss),
            ("accuracy/train", m.train_accuracy),
            ("accuracy/val", m.val_accuracy),
            ("bpc/train", m.train_bpc),
            ("bpc/val", m.val_bpc),
            ("r2/val", m.val_r2),
            ("mae/val", m.val_mae),
            ("rmse/val", m.val_rmse),
        ];
        s.extend(
            opt.iter()
                .filter_map(|(t, v)| v.map(|v| (t.to_string(), v))),
        );
        s.push(("lr".into(), m.lr));
        self.add_scalars(m.step, &s)?;
        self.flush()
    }

    /// A health record's scalars (global and per-parameter gradient norms, update/weight
    /// ratios, dead and saturated fractions) and its weight and gradient histograms.
    pub fn add_health(&mut self, h: &HealthRecord) -> Result<(), Error> {
        let mut s = vec![("grad_norm/global".to_string(), h.global_grad_norm)];
        for p in &h.params {
            s.push((format!("grad_norm/{}", p.name), p.grad_norm));
        }
        for p in &h.params {
            s.push((format!("update_ratio/{}", p.name), p.update_ratio));
        }
        for a in &h.activations {
            if let Some(d) = a.dead {
                s.push((format!("dead_fraction/{}", a.layer), d));
            }
            if let Some(v) = a.saturated {
                s.push((format!("saturated_fraction/{}", a.layer), v));
            }
        }
        self.add_scalars(h.step, &s)?;
        let mut value = Vec::new();
        for p in &h.histograms {
            value.push(histo(&format!("weights/{}", p.name), &p.weights));
            if let Some(g) = &p.grads {
                value.push(histo(&format!("grads/{}", p.name), g));
            }
        }
        self.write_summary(h.step, value)
    }

    /// Flushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.file.flush().map_err(|e| self.io(e))
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

fn scalar(tag: &str, v: f64) -> SummaryValue {
    SummaryValue {
        tag: tag.into(),
        value: Some(Value::SimpleValue(v as f32)),
    }
}

fn histo(tag: &str, h: &Histogram) -> SummaryValue {
    SummaryValue {
        tag: tag.into(),
        value: Some(Value::Histo(histogram_proto(h))),
    }
}

/// The events of an event file, every record's CRCs checked.
///
/// Fails when the file cannot be read, a record is damaged or cut short, or a record is not
/// an `Event` (naming the file).
pub fn read_events(path: &Path) -> Result<Vec<Event>, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Io(format!("{}: cannot read: {e}", path.display())))?;
    record::read_records(&bytes)
        .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            Event::decode(r).map_err(|e| Error::Io(format!("{}: record {i}: {e}", path.display())))
        })
        .collect()
}

/// The event files (`*tfevents*`) of a run folder, sorted by name.
pub fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("tfevents"))
        })
        .collect();
    v.sort();
    v
}

/// A histogram's protocol-buffer form.
pub fn histogram_proto(h: &Histogram) -> proto::HistogramProto {
    proto::HistogramProto {
        min: h.min,
        max: h.max,
        num: h.num as f64,
        sum: h.sum,
        sum_squares: h.sum_squares,
        bucket_limit: h.limits.clone(),
        bucket: h.counts.iter().map(|&c| c as f64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_train::health::{ParamHealth, ParamHistograms};

    #[test]
    fn a_written_file_reads_back_event_by_event() {
        let dir = std::env::temp_dir().join(format!("nabla-tb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = EventWriter::create(&dir).unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let m = EpochMetrics {
            epoch: 1,
            step: 30,
            train_loss: 0.5,
            train_accuracy: Some(0.8),
            val_loss: Some(0.6),
            val_accuracy: None,
            train_bpc: None,
            val_bpc: None,
            val_mae: None,
            val_rmse: None,
            val_r2: None,
            lr: 0.01,
            seconds: 1.0,
        };
        w.add_epoch(&m).unwrap();
        let h = HealthRecord {
            step: 10,
            epoch: 1,
            global_grad_norm: 2.0,
            clipped: false,
            non_finite: 0,
            params: vec![ParamHealth {
                name: "0.weight".into(),
                grad_norm: 2.0,
                weight_norm: 3.0,
                update_ratio: 1e-3,
                non_finite: 0,
            }],
            activations: vec![],
            histograms: vec![ParamHistograms {
                name: "0.weight".into(),
                weights: Histogram::of([1.0, 2.0, 3.0], 3),
                grads: Some(Histogram::of([-1.0, 1.0], 2)),
            }],
        };
        w.add_health(&h).unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        assert_eq!(event_files(&dir), vec![path.clone()]);
        let ev = read_events(&path).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].what, Some(What::FileVersion(FILE_VERSION.into())));
        let Some(What::Summary(s)) = &ev[1].what else {
            panic!("{:?}", ev[1])
        };
        assert_eq!(ev[1].step, 30);
        let tags: Vec<&str> = s.value.iter().map(|v| v.tag.as_str()).collect();
        assert_eq!(tags, vec!["loss/train", "loss/val", "accuracy/train", "lr"]);
        assert_eq!(s.value[0].value, Some(Value::SimpleValue(0.5)));
        let Some(What::Summary(s)) = &ev[2].what else {
            panic!()
        };
        let tags: Vec<&str> = s.value.iter().map(|v| v.tag.as_str()).collect();
        assert_eq!(
            tags,
            vec![
                "grad_norm/global",
                "grad_norm/0.weight",
                "update_ratio/0.weight"
            ]
        );
        let Some(What::Summary(s)) = &ev[3].what else {
            panic!()
        };
        assert_eq!(s.value[0].tag, "weights/0.weight");
        let Some(Value::Histo(p)) = &s.value[1].value else {
            panic!()
        };
        assert_eq!((p.min, p.max, p.num), (-1.0, 1.0, 2.0));
        assert_eq!(p.bucket, vec![1.0, 1.0]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_encoding_has_tensorflows_field_numbers() {
        // Event{wall_time: 1.0, step: 2, file_version: "x"}: field 1 fixed64 (tag 0x09),
        // field 2 varint (0x10), field 3 length-delimited (0x1a)
        let e = Event {
            wall_time: 1.0,
            step: 2,
            what: Some(What::FileVersion("x".into())),
        };
        let mut want = vec![0x09];
        want.extend(1.0f64.to_le_bytes());
        want.extend([0x10, 0x02, 0x1a, 0x01, b'x']);
        assert_eq!(e.encode_to_vec(), want);
        // Summary.Value{tag: "a", simple_value: 1.0}: field 1 (0x0a), field 2 fixed32 (0x15)
        let v = scalar("a", 1.0);
        let mut want = vec![0x0a, 0x01, b'a', 0x15];
        want.extend(1.0f32.to_le_bytes());
        assert_eq!(v.encode_to_vec(), want);
        // histo is field 5 of Summary.Value (0x2a); summary is field 5 of Event (0x2a)
        let p = histogram_proto(&Histogram::of([0.0, 1.0, 2.0, 3.0, 4.0, f64::NAN], 4));
        assert_eq!(p.bucket, vec![2.0, 1.0, 1.0, 1.0]);
        assert_eq!(p.num, 5.0);
        let h = histo("h", &Histogram::of([1.0], 1));
        assert_eq!(h.encode_to_vec()[3], 0x2a);
    }
}
