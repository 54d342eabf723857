//! A user's own observer sees the run as the built-in ones do: the start, every epoch's
//! start and end, every step, every health record; and it stays with the trainer.

use nabla_core::Result;
use nabla_data::{DataLoader, LoaderConfig};
use nabla_nn::loss::cross_entropy_loss;
use nabla_nn::optim::Adam;
use nabla_nn::Module;
use nabla_train::health::HealthRecord;
use nabla_train::{
    Callback, EpochMetrics, EpochStart, FitStart, ProgressMode, StepEnd, TrainConfig, Trainer,
};
use std::sync::{Arc, Mutex};

mod common;

#[derive(Default)]
struct Seen {
    events: Vec<String>,
}

struct Recorder(Arc<Mutex<Seen>>);

impl Recorder {
    fn push(&self, e: String) {
        self.0.lock().unwrap().events.push(e);
    }
}

impl Callback for Recorder {
    fn on_fit_start(&mut self, r: &FitStart<'_>) -> Result<()> {
        self.push(format!("fit {} {}", r.epoch, r.epochs));
        Ok(())
    }
    fn on_epoch_start(&mut self, e: &EpochStart) -> Result<()> {
        self.push(format!("epoch {} of {} batches", e.epoch, e.batches));
        Ok(())
    }
    fn on_step_end(&mut self, s: &StepEnd) -> Result<()> {
        assert!(s.loss.is_finite() && s.samples_per_second > 0.0);
        self.push(format!("step {}", s.step));
        Ok(())
    }
    fn on_health(&mut self, h: &HealthRecord, all: &[HealthRecord]) -> Result<()> {
        assert_eq!(all.last().map(|r| r.step), Some(h.step));
        self.push(format!("health {}", h.step));
        Ok(())
    }
    fn on_epoch_end(&mut self, row: &EpochMetrics, history: &[EpochMetrics]) -> Result<()> {
        assert_eq!(history.len(), row.epoch);
        self.push(format!("end {} {}", row.epoch, row.step));
        Ok(())
    }
}

#[test]
fn a_user_callback_sees_every_event_in_order() {
    let (train, _) = common::data();
    let mut loader = DataLoader::new(train, LoaderConfig::new(20)).unwrap();
    let m = common::model(false);
    let opt = Adam::new(m.parameters(), 0.01);
    let mut tc = TrainConfig::default()
        .with_epochs(2)
        .with_progress(ProgressMode::Quiet);
    tc.health_every = 4;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut t = Trainer::new(m, opt, cross_entropy_loss, tc).with_callback(Recorder(seen.clone()));
    t.fit(&mut loader, None).unwrap();
    // 203 samples in batches of 20: 11 steps an epoch; health at step 1 and every 4th
    let mut want = vec!["fit 0 2".to_string()];
    for e in 1..=2u64 {
        want.push(format!("epoch {e} of 11 batches"));
        for s in (e - 1) * 11 + 1..=e * 11 {
            want.push(format!("step {s}"));
            if s == 1 || s % 4 == 0 {
                // the record is taken inside the step, before the step ends
                let at = want.len() - 1;
                want.insert(at, format!("health {s}"));
            }
        }
        want.push(format!("end {e} {}", e * 11));
    }
    assert_eq!(seen.lock().unwrap().events, want);
    // the observer stays with the trainer: a longer fit reports to it again
    t.config.epochs = 3;
    t.fit(&mut loader, None).unwrap();
    let events = &seen.lock().unwrap().events;
    assert_eq!(events[want.len()], "fit 2 3");
    assert_eq!(events.last().unwrap(), "end 3 33");
}
