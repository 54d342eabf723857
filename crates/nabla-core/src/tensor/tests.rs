//! Unit tests of the tensor header and its elements.

use super::*;

fn first_ptr(t: &Tensor) -> *const f32 {
    t.typed_storage::<f32>().as_ptr()
}

#[test]
fn views_share_an_unrecorded_results_elements_and_writes_copy_while_they_live() {
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let mut y = x.neg().unwrap();
    let v = y.t().unwrap();
    assert_eq!(first_ptr(&v), first_ptr(&y), "a view shares the elements");
    y.make_mut::<f32>().unwrap()[0] = 10.0;
    assert_eq!(v.to_vec::<f32>().unwrap(), vec![-1.0, -3.0, -2.0, -4.0]);
    drop(v);
    let before = first_ptr(&y);
    y.make_mut::<f32>().unwrap()[1] = 20.0;
    assert_eq!(
        first_ptr(&y),
        before,
        "with no view left the write is in place"
    );
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![10.0, 20.0, -3.0, -4.0]);
}

#[test]
fn a_var_updates_in_place_once_its_source_is_gone() {
    let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    let w = crate::Var::new(&t);
    // the caller's tensor still holds the elements: the first write copies
    w.with_mut::<f32, _>(|v| v[0] = 5.0).unwrap();
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
    let p = first_ptr(&w.as_tensor());
    w.with_mut::<f32, _>(|v| v[1] = 6.0).unwrap();
    assert_eq!(first_ptr(&w.as_tensor()), p, "then it writes in place");
    // a var made from a tensor nobody else holds writes in place from the start
    let w = crate::Var::new(&Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap());
    let p = first_ptr(&w.as_tensor());
    w.with_mut::<f32, _>(|v| v[0] = 7.0).unwrap();
    assert_eq!(first_ptr(&w.as_tensor()), p);
    assert_eq!(w.as_tensor().to_vec::<f32>().unwrap(), vec![7.0, 2.0]);
}

#[test]
fn a_detached_result_does_not_keep_its_graph() {
    let w = crate::Var::from_vec(vec![0.5f32; 8], &[8]).unwrap();
    let h = w.as_tensor().exp().unwrap();
    let weak = h.shared_storage_weak();
    let y = h.sin().unwrap();
    let d = y.detach();
    drop((h, y));
    assert!(
        weak.upgrade().is_none(),
        "the detached tensor kept the graph alive"
    );
    assert_eq!(d.to_vec::<f32>().unwrap(), vec![0.5f32.exp().sin(); 8]);
}

#[test]
fn creation() {
    let t = Tensor::arange(0.0, 5.0, 1.0, DType::F32).unwrap();
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    let t = Tensor::arange(1.0, 2.0, 0.25, DType::F64).unwrap();
    assert_eq!(t.to_vec::<f64>().unwrap(), vec![1.0, 1.25, 1.5, 1.75]);
    assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
    let l = Tensor::linspace(0.0, 1.0, 5, DType::F64).unwrap();
    assert_eq!(l.to_vec::<f64>().unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let e = Tensor::eye(3, DType::F32);
    assert_eq!(
        e.to_vec::<f32>().unwrap(),
        vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]
    );
    assert_eq!(
        Tensor::full(2.5, &[2], DType::F64).to_vec::<f64>().unwrap(),
        vec![2.5, 2.5]
    );
    assert_eq!(Tensor::zeros(&[2, 0], DType::F32).numel(), 0);
    let err = Tensor::from_vec(vec![1.0f32; 5], &[2, 3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("from_vec") && err.contains("[2, 3]"), "{err}");
    assert!(Tensor::scalar(3.0f64).to_scalar().unwrap() == 3.0);
    assert!(Tensor::zeros(&[2], DType::F32).to_scalar().is_err());
    assert!(Tensor::zeros(&[2], DType::F32).to_vec::<f64>().is_err());
}
