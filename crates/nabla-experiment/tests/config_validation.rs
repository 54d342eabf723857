//! Optimizer and schedule values are validated with the config, naming the key, before a run
//! builds anything (they used to fail at build time, after the run folder existed).

use nabla_experiment::ExperimentConfig;

#[test]
fn bad_optimizer_and_schedule_values_name_their_key() {
    let cases = [
        (
            "optimizer = { name = \"adam\", betas = [0.9, 1.5] }",
            "train.optimizer.betas[1]",
        ),
        (
            "optimizer = { name = \"adamw\", eps = 0 }",
            "train.optimizer.eps",
        ),
        (
            "optimizer = { name = \"sgd\", lr = 0.1, momentum = -1 }",
            "train.optimizer.momentum",
        ),
        (
            "optimizer = { name = \"sgd\", lr = 0.1, nesterov = true }",
            "train.optimizer.nesterov",
        ),
        (
            "optimizer = { name = \"rmsprop\", weight_decay = -0.1 }",
            "train.optimizer.weight_decay",
        ),
        (
            "optimizer = { name = \"adagrad\", lr_decay = nan }",
            "train.optimizer.lr_decay",
        ),
        (
            "optimizer = { name = \"adam\", lr = inf }",
            "train.optimizer.lr",
        ),
        (
            "schedule = { name = \"step\", step_size = 0 }",
            "train.schedule.step_size",
        ),
        (
            "schedule = { name = \"exponential\", gamma = -0.5 }",
            "train.schedule.gamma",
        ),
        (
            "schedule = { name = \"cosine\", t_max = 0 }",
            "train.schedule.t_max",
        ),
        (
            "schedule = { name = \"warmup\", total_iters = 10, start_factor = 2 }",
            "train.schedule.start_factor",
        ),
        (
            "schedule = { name = \"one_cycle\", max_lr = 0.1, pct_start = 1 }",
            "train.schedule.pct_start",
        ),
        (
            "schedule = { name = \"plateau\", factor = 1.5 }",
            "train.schedule.factor",
        ),
    ];
    for (line, key) in cases {
        let text =
            format!("[model]\nlayers = [{{ type = \"linear\", out = 10 }}]\n[train]\n{line}\n");
        let e = ExperimentConfig::from_toml_str(&text, "c.toml")
            .expect_err(line)
            .to_string();
        assert!(e.contains(key), "{line}: {e}");
    }
    // the values PyTorch accepts still load
    for line in [
        "optimizer = { name = \"sgd\", lr = 0.1, momentum = 0.9, nesterov = true }",
        "optimizer = { name = \"adam\", betas = [0.0, 0.0], weight_decay = 0.1 }",
        "schedule = { name = \"exponential\", gamma = 1.1 }",
        "schedule = { name = \"warmup\", total_iters = 3, start_factor = 1 }",
    ] {
        let text =
            format!("[model]\nlayers = [{{ type = \"linear\", out = 10 }}]\n[train]\n{line}\n");
        ExperimentConfig::from_toml_str(&text, "c.toml").unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}
