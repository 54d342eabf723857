//! Metrics against hand-computed values (and scikit-learn's documented report).

use nabla_core::{Error, Tensor};
use nabla_train::metrics::{accuracy, top_k_accuracy, ConfusionMatrix, RunningMean};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn t2(v: Vec<f64>, n: usize, c: usize) -> Tensor {
    Tensor::from_vec(v, &[n, c]).unwrap()
}

fn targets(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap()
}

/// Four rows exercising ties and NaN (see the module's ranking rule):
/// r0 [0.1, 0.5, 0.4] t=2: rank 1 (0.5 above)
/// r1 [0.3, 0.9, 0.3] t=2: rank 2 (0.9 above, tie with index 0 before it)
/// r2 [2.0, 1.0, 0.0] t=0: rank 0
/// r3 [NaN, 5.0, 1.0] t=1: rank 1 (NaN counts as the largest)
fn ranked_batch() -> (Tensor, Tensor) {
    let logits = t2(
        vec![
            0.1,
            0.5,
            0.4,
            0.3,
            0.9,
            0.3,
            2.0,
            1.0,
            0.0,
            f64::NAN,
            5.0,
            1.0,
        ],
        4,
        3,
    );
    (logits, targets(&[2, 2, 0, 1]))
}

#[test]
fn accuracy_hand_computed_f32_and_f64() {
    let v = vec![0.1, 0.9, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4];
    let tg = targets(&[1, 0, 0, 0]);
    assert!(close(accuracy(&t2(v.clone(), 4, 2), &tg).unwrap(), 0.75));
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let l32 = Tensor::from_vec(v32, &[4, 2]).unwrap();
    assert!(close(accuracy(&l32, &tg).unwrap(), 0.75));
}

#[test]
fn accuracy_ties_go_to_the_first_index_like_argmax() {
    let logits = t2(vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0], 2, 3);
    // row 0 predicts 0, row 1 predicts 1
    assert!(close(accuracy(&logits, &targets(&[0, 1])).unwrap(), 1.0));
    assert!(close(accuracy(&logits, &targets(&[1, 2])).unwrap(), 0.0));
}

#[test]
fn accuracy_agrees_with_tensor_argmax() {
    let (logits, tg) = ranked_batch();
    let pred = logits
        .argmax(Some(1), false)
        .unwrap()
        .to_vec::<i64>()
        .unwrap();
    let t = tg.to_vec::<i64>().unwrap();
    let expect = pred.iter().zip(&t).filter(|(p, t)| p == t).count() as f64 / 4.0;
    assert!(close(accuracy(&logits, &tg).unwrap(), expect));
    assert!(close(expect, 0.25));
}

#[test]
fn accuracy_on_a_strided_view() {
    // a non-contiguous [3, 2] view of [[1, 0, 5], [0, 1, 0]]
    let base = t2(vec![1.0, 0.0, 5.0, 0.0, 1.0, 0.0], 2, 3);
    let logits = base.transpose(0, 1).unwrap(); // [3, 2]: rows [1,0], [0,1], [5,0]
    assert_eq!(logits.shape(), &[3, 2]);
    assert!(close(
        accuracy(&logits, &targets(&[0, 1, 1])).unwrap(),
        2.0 / 3.0
    ));
}

#[test]
fn top_k_hand_computed_with_ties_and_nan() {
    let (logits, tg) = ranked_batch();
    assert!(close(top_k_accuracy(&logits, &tg, 1).unwrap(), 0.25));
    assert!(close(top_k_accuracy(&logits, &tg, 2).unwrap(), 0.75));
    assert!(close(top_k_accuracy(&logits, &tg, 3).unwrap(), 1.0));
    assert!(close(
        top_k_accuracy(&logits, &tg, 1).unwrap(),
        accuracy(&logits, &tg).unwrap()
    ));
}

#[test]
fn top_k_all_equal_scores_rank_by_index() {
    let logits = t2(vec![1.0, 1.0, 1.0], 1, 3);
    let hit = |t: i64| top_k_accuracy(&logits, &targets(&[t]), 2).unwrap();
    assert_eq!(hit(0), 1.0);
    assert_eq!(hit(1), 1.0);
    assert_eq!(hit(2), 0.0);
}

#[test]
fn errors_are_values_with_clear_messages() {
    let logits = t2(vec![0.0; 6], 2, 3);
    let msg = |r: Result<f64, Error>| r.unwrap_err().to_string();

    let m = msg(top_k_accuracy(&logits, &targets(&[0, 1]), 0));
    assert!(
        m.contains("top_k_accuracy") && m.contains("k must be at least 1"),
        "{m}"
    );
    let m = msg(top_k_accuracy(&logits, &targets(&[0, 1]), 4));
    assert!(m.contains("k = 4 exceeds") && m.contains("C = 3"), "{m}");

    let m = msg(accuracy(&logits, &targets(&[0, 1, 2])));
    assert!(m.contains("[2, 3]") && m.contains("[3]"), "{m}");
    let m = msg(accuracy(&logits, &targets(&[0, 3])));
    assert!(m.contains("target 3 at row 1") && m.contains("0..3"), "{m}");
    let m = msg(accuracy(&logits, &targets(&[-1, 0])));
    assert!(m.contains("target -1 at row 0"), "{m}");

    let flat = Tensor::from_vec(vec![0.0f64; 3], &[3]).unwrap();
    let m = msg(accuracy(&flat, &targets(&[0, 1, 2])));
    assert!(m.contains("[N, C]") && m.contains("[3]"), "{m}");
    let m = msg(accuracy(
        &logits,
        &Tensor::from_vec(vec![0i64, 1], &[1, 2]).unwrap(),
    ));
    assert!(m.contains("targets must have shape [N]"), "{m}");

    let ints = Tensor::from_vec(vec![0i64; 6], &[2, 3]).unwrap();
    let m = msg(accuracy(&ints, &targets(&[0, 1])));
    assert!(m.contains("f32 or f64"), "{m}");
    let ftg = Tensor::from_vec(vec![0.0f32, 1.0], &[2]).unwrap();
    let m = msg(accuracy(&logits, &ftg));
    assert!(m.contains("i64"), "{m}");

    let empty = Tensor::from_vec(Vec::<f64>::new(), &[0, 3]).unwrap();
    let no_t = Tensor::from_vec(Vec::<i64>::new(), &[0]).unwrap();
    assert!(msg(accuracy(&empty, &no_t)).contains("empty batch"));
    assert!(msg(top_k_accuracy(&empty, &no_t, 1)).contains("empty batch"));
    let no_classes = Tensor::from_vec(Vec::<f64>::new(), &[2, 0]).unwrap();
    assert!(msg(accuracy(&no_classes, &targets(&[0, 0]))).contains("C = 0"));
}

/// scikit-learn's documented `classification_report` example:
/// y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1].
fn sklearn_example() -> ConfusionMatrix {
    let mut cm = ConfusionMatrix::new(3)
        .with_class_names(&["class 0", "class 1", "class 2"])
        .unwrap();
    cm.update_from_predictions(&[0, 0, 2, 2, 1], &[0, 1, 2, 2, 2])
        .unwrap();
    cm
}

#[test]
fn confusion_matrix_counts_and_metrics() {
    let cm = sklearn_example();
    assert_eq!(
        cm.counts(),
        vec![vec![1, 0, 0], vec![1, 0, 0], vec![0, 1, 2]]
    );
    assert_eq!(cm.get(2, 1), Some(1));
    assert_eq!(cm.get(3, 0), None);
    assert_eq!(cm.total(), 5);
    assert!(close(cm.accuracy(), 0.6));

    let per = cm.per_class();
    assert_eq!(per.len(), 3);
    assert!(close(per[0].precision, 0.5) && close(per[0].recall, 1.0));
    assert!(close(per[0].f1, 2.0 / 3.0) && per[0].support == 1);
    // class 1: never predicted correctly, precision 0/1, recall 0/1, f1 0/0 -> 0
    assert_eq!(
        (per[1].precision, per[1].recall, per[1].f1),
        (0.0, 0.0, 0.0)
    );
    assert!(close(per[2].precision, 1.0) && close(per[2].recall, 2.0 / 3.0));
    assert!(close(per[2].f1, 0.8) && per[2].support == 3);

    let m = cm.macro_avg();
    assert!(close(m.precision, 0.5));
    assert!(close(m.recall, (1.0 + 2.0 / 3.0) / 3.0));
    assert!(close(m.f1, (2.0 / 3.0 + 0.8) / 3.0));
    assert_eq!(m.support, 5);
    let w = cm.weighted_avg();
    assert!(close(w.precision, 0.7));
    assert!(close(w.recall, 0.6));
    assert!(close(w.f1, (2.0 / 3.0 + 3.0 * 0.8) / 5.0));
}

#[test]
fn report_matches_scikit_learn_layout() {
    let text = format!("{}", sklearn_example());
    let report = "\
              precision    recall  f1-score   support

     class 0       0.50      1.00      0.67         1
     class 1       0.00      0.00      0.00         1
     class 2       1.00      0.67      0.80         3

    accuracy                           0.60         5
   macro avg       0.50      0.56      0.49         5
weighted avg       0.70      0.60      0.61         5
";
    assert!(text.ends_with(report), "{text}");
    let matrix = "\
confusion matrix (rows: true class, columns: predicted class)
         class 0  class 1  class 2
class 0        1        0        0
class 1        1        0        0
class 2        0        1        2
";
    assert!(text.starts_with(matrix), "{text}");
    // precision from the formatter
    let three = format!("{:.3}", sklearn_example());
    assert!(three.contains("     class 0      0.500     1.000     0.667         1"));
}

#[test]
fn macro_average_skips_classes_that_never_occur() {
    // a 4th class that is neither a target nor a prediction does not dilute the average
    let mut cm = ConfusionMatrix::new(4);
    cm.update_from_predictions(&[0, 0, 2, 2, 1], &[0, 1, 2, 2, 2])
        .unwrap();
    assert_eq!(cm.macro_avg(), sklearn_example().macro_avg());
    assert_eq!(cm.per_class()[3].support, 0);
}

#[test]
fn update_from_logits_matches_predictions() {
    // predictions (argmax): 0, 0, 2, 2, 1
    let logits = t2(
        vec![
            0.9, 0.1, 0.0, //
            0.5, 0.5, 0.0, // tie -> 0
            0.0, 0.1, 0.3, //
            -1.0, -2.0, 0.0, //
            0.2, 0.7, 0.1,
        ],
        5,
        3,
    );
    let mut cm = ConfusionMatrix::new(3);
    cm.update(&logits, &targets(&[0, 1, 2, 2, 2])).unwrap();
    let mut expect = ConfusionMatrix::new(3);
    expect
        .update_from_predictions(&[0, 0, 2, 2, 1], &[0, 1, 2, 2, 2])
        .unwrap();
    assert_eq!(cm.counts(), expect.counts());

    // accumulation over batches, merge and reset
    cm.update(&logits, &targets(&[0, 1, 2, 2, 2])).unwrap();
    assert_eq!(cm.total(), 10);
    assert_eq!(cm.get(2, 2), Some(4));
    let mut other = ConfusionMatrix::new(3);
    other.merge(&cm).unwrap();
    assert_eq!(other.counts(), cm.counts());
    cm.reset();
    assert_eq!(cm.total(), 0);
    // empty batch changes nothing
    let empty = Tensor::from_vec(Vec::<f32>::new(), &[0, 3]).unwrap();
    cm.update(&empty, &Tensor::from_vec(Vec::<i64>::new(), &[0]).unwrap())
        .unwrap();
    assert_eq!(cm.total(), 0);
}

#[test]
fn confusion_matrix_errors_leave_it_unchanged() {
    let mut cm = sklearn_example();
    let before = cm.clone();

    let e = cm
        .update(&t2(vec![0.0; 4], 2, 2), &targets(&[0, 1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 classes, the matrix has 3"), "{e}");
    let e = cm
        .update(&t2(vec![0.0; 6], 2, 3), &targets(&[0, 5]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("target 5 at row 1"), "{e}");
    let e = cm
        .update_from_predictions(&[0, 1], &[0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 predictions but 1 targets"), "{e}");
    let e = cm
        .update_from_predictions(&[0, 1, 2], &[0, 1, 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("target 3 at position 2"), "{e}");
    let e = cm
        .update_from_predictions(&[7], &[0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("prediction 7 at position 0"), "{e}");
    assert!(cm.merge(&ConfusionMatrix::new(2)).is_err());
    assert_eq!(cm, before);

    assert!(ConfusionMatrix::new(3).with_class_names(&["a"]).is_err());
}

#[test]
fn empty_and_zero_class_matrices_do_not_panic() {
    let cm = ConfusionMatrix::new(3);
    assert_eq!(cm.accuracy(), 0.0);
    assert_eq!(cm.macro_avg().f1, 0.0);
    assert_eq!(cm.weighted_avg().precision, 0.0);
    assert!(format!("{cm}").contains("accuracy"));
    let zero = ConfusionMatrix::new(0);
    assert!(zero.counts().is_empty());
    assert!(zero.per_class().is_empty());
    let _ = format!("{zero}");
    let mut zero = zero;
    assert!(zero
        .update(&t2(vec![], 0, 0), &targets(&[]))
        .unwrap_err()
        .to_string()
        .contains("C = 0"));
}

#[test]
fn running_mean_weights_by_batch_size() {
    let mut m = RunningMean::new();
    assert_eq!(m.mean(), None);
    m.update(2.0, 4); // sum 8
    m.update(0.5, 2); // sum 9
    m.update(100.0, 0); // ignored
    assert_eq!(m.count(), 6);
    assert!(close(m.mean().unwrap(), 1.5));
    m.reset();
    assert_eq!(m.mean(), None);
    m.update(f64::NAN, 1);
    m.update(1.0, 1);
    assert!(m.mean().unwrap().is_nan());
}
