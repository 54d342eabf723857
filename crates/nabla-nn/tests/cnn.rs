//! Convolution, pooling, BatchNorm2d and Dropout2d layers: shapes, PyTorch's names and
//! layouts, gradients checked in f64, training/evaluation behaviour, and bad inputs.

use nabla_core::{Conv2dOptions, DType, GradcheckOptions, Mt19937, Tensor};
use nabla_nn::*;

fn lenet_like(rng: &mut Mt19937) -> Sequential {
    Sequential::new()
        .append(Conv2d::new(1, 3, 3, rng).unwrap())
        .append(BatchNorm2d::new(3))
        .append(Activation::Tanh)
        .append(MaxPool2d::new(2))
        .append(
            Conv2d::with_options(
                3,
                4,
                (2, 2),
                Conv2dOptions::default().with_groups(1),
                false,
                rng,
            )
            .unwrap()
            .padding_same()
            .unwrap(),
        )
        .append(AvgPool2d::new(2))
        .append(Flatten::default())
        .append(Linear::new(4, 2, rng).unwrap())
}

#[test]
fn a_small_cnn_has_pytorch_names_shapes_and_gradients() {
    let mut rng = Mt19937::new(0);
    let m = lenet_like(&mut rng);
    let names: Vec<String> = m.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "7.weight", "7.bias"]
    );
    let bufs: Vec<String> = m.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        bufs,
        ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    );
    assert_eq!(m.output_shape(&[5, 1, 6, 6]).unwrap(), vec![5, 2]);
    // [2, 1, 6, 6] -> conv 3x3 [2,3,4,4] -> pool [2,3,2,2] -> same conv [2,4,2,2] -> avg [2,4,1,1]
    let x = Tensor::randn(&[2, 1, 6, 6], DType::F64, &mut rng).unwrap();
    let t = Tensor::from_vec(vec![0i64, 1], &[2]).unwrap();
    let f = |o: &Tensor| loss::cross_entropy(o, &t, Default::default());
    let report = gradcheck_module(&m, &x, &f, GradcheckOptions::default(), 30).unwrap();
    for p in &report {
        assert!(p.passed, "{p:?}");
    }
}

#[test]
fn conv1d_transpose_and_adaptive_pool_layers() {
    let mut rng = Mt19937::new(1);
    let m = Sequential::new()
        .append(
            Conv1d::new(2, 3, 3, &mut rng)
                .unwrap()
                .padding_same()
                .unwrap(),
        )
        .append(MaxPool1d::new(2))
        .append(AvgPool1d::new(2));
    assert_eq!(m.output_shape(&[4, 2, 8]).unwrap(), vec![4, 3, 2]);
    let x = Tensor::randn(&[2, 2, 8], DType::F64, &mut rng).unwrap();
    let f = |o: &Tensor| o.sqr()?.sum();
    for p in gradcheck_module(&m, &x, &f, GradcheckOptions::default(), 20).unwrap() {
        assert!(p.passed, "{p:?}");
    }
    let up = Sequential::new()
        .append(
            ConvTranspose2d::with_options(
                2,
                3,
                (3, 3),
                nabla_core::ConvTranspose2dOptions::default()
                    .with_stride(2, 2)
                    .with_padding(1, 1)
                    .with_output_padding(1, 1),
                true,
                &mut rng,
            )
            .unwrap(),
        )
        .append(AdaptiveAvgPool2d::new((2, 3)));
    // (4 - 1) * 2 - 2 + 3 + 1 = 8
    assert_eq!(
        up.children()[0].1.output_shape(&[1, 2, 4, 4]).unwrap(),
        vec![1, 3, 8, 8]
    );
    assert_eq!(up.output_shape(&[1, 2, 4, 4]).unwrap(), vec![1, 3, 2, 3]);
    assert_eq!(up.parameters()[0].1.shape(), vec![2, 3, 3, 3]);
    let x = Tensor::randn(&[1, 2, 4, 4], DType::F64, &mut rng).unwrap();
    for p in gradcheck_module(&up, &x, &f, GradcheckOptions::default(), 20).unwrap() {
        assert!(p.passed, "{p:?}");
    }
}

#[test]
fn batchnorm2d_statistics_and_dropout2d_channels() {
    let bn = BatchNorm2d::new(2);
    let mut rng = Mt19937::new(2);
    let x = Tensor::randn(&[4, 2, 3, 3], DType::F32, &mut rng)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap()
        .add_scalar(1.0)
        .unwrap();
    let y = bn.forward(&x, &mut ForwardCtx::train(&mut rng)).unwrap();
    // per channel: mean 0 and (biased) variance 1 over N, H, W
    let m = y.mean_dims(&[0, 2, 3], false).unwrap().to_vec_f64();
    assert!(m.iter().all(|v| v.abs() < 1e-5), "{m:?}");
    assert_eq!(
        bn.num_batches_tracked.as_tensor().to_vec::<i64>().unwrap(),
        vec![1]
    );
    // running mean moved 10% of the way to the batch mean (PyTorch's momentum 0.1)
    let bm = x.mean_dims(&[0, 2, 3], false).unwrap().to_vec_f64();
    let rm = bn.running_mean.as_tensor().to_vec_f64();
    for (r, b) in rm.iter().zip(&bm) {
        assert!((r - 0.1 * b).abs() < 1e-5, "{rm:?} {bm:?}");
    }
    assert_eq!(bn.kind(), "BatchNorm2d");
    assert!(bn.output_shape(&[4, 2, 3]).is_err());
    assert!(bn.output_shape(&[4, 3, 3, 3]).is_err());
    // Dropout2d zeroes whole channels
    let d = Dropout2d::new(0.5).unwrap();
    let ones = Tensor::ones(&[8, 4, 3, 3], DType::F32);
    let y = d
        .forward(&ones, &mut ForwardCtx::train(&mut rng))
        .unwrap()
        .to_vec_f64();
    for ch in y.chunks(9) {
        assert!(
            ch.iter().all(|v| *v == ch[0]) && (ch[0] == 0.0 || ch[0] == 2.0),
            "{ch:?}"
        );
    }
    assert!(y.contains(&0.0) && y.contains(&2.0));
    let e = d
        .forward(&ones, &mut ForwardCtx::eval())
        .unwrap()
        .to_vec_f64();
    assert!(e.iter().all(|v| *v == 1.0));
}

#[test]
fn bad_inputs_are_errors_naming_the_layer() {
    let mut rng = Mt19937::new(3);
    let conv = Conv2d::new(3, 8, 5, &mut rng).unwrap();
    let e = conv.output_shape(&[1, 1, 28, 28]).unwrap_err().to_string();
    assert!(
        e.contains("Conv2d(3, 8)") && e.contains("[1, 1, 28, 28]"),
        "{e}"
    );
    let e = conv.output_shape(&[1, 3, 4, 4]).unwrap_err().to_string();
    assert!(e.contains("conv2d"), "{e}");
    let e = conv.output_shape(&[1, 784]).unwrap_err().to_string();
    assert!(e.contains("[N, 3, H, W]"), "{e}");
    assert!(Conv2d::new(3, 8, 0, &mut rng).is_err());
    let strided = Conv2d::with_options(
        3,
        8,
        (3, 3),
        Conv2dOptions::default().with_stride(2, 2),
        true,
        &mut rng,
    )
    .unwrap();
    let e = strided.padding_same().err().unwrap().to_string();
    assert!(e.contains("same") && e.contains("stride"), "{e}");
    assert!(Conv2d::with_options(
        3,
        8,
        (3, 3),
        Conv2dOptions::default().with_groups(2),
        true,
        &mut rng
    )
    .is_err());
    let e = MaxPool2d::new(5)
        .output_shape(&[1, 1, 3, 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_pool2d"), "{e}");
    assert!(MaxPool2d::new(2).output_shape(&[1, 9]).is_err());
}

/// A `Conv2d` followed by `ReLU` in a `Sequential` runs as one fused `conv2d_relu`: the same
/// output and parameter gradients bit for bit as the layers one by one (f64 and the other
/// kernel paths: `conv2d_relu_is_conv2d_then_relu_bit_for_bit` in nabla-core); while health
/// statistics are collected the ReLU runs on its own (its statistics are there).
#[test]
fn sequential_fuses_conv2d_and_relu_bit_for_bit() {
    let mut rng = Mt19937::new(4);
    let m = Sequential::new()
        .append(Conv2d::new(2, 8, 3, &mut rng).unwrap())
        .append(Activation::ReLU)
        .append(MaxPool2d::new(2))
        .append(
            Conv2d::with_options(8, 6, (3, 3), Conv2dOptions::default(), true, &mut rng)
                .unwrap()
                .padding_same()
                .unwrap(),
        )
        .append(Activation::ReLU)
        .append(Flatten::default())
        .append(Linear::new(6 * 4 * 4, 3, &mut rng).unwrap());
    let x = Tensor::randn(&[3, 2, 10, 10], DType::F32, &mut rng).unwrap();
    let t = Tensor::from_vec(vec![0i64, 2, 1], &[3]).unwrap();
    let bits = |v: &Tensor| -> Vec<u64> { v.to_vec_f64().iter().map(|x| x.to_bits()).collect() };
    let run = |fused: bool| {
        let mut ctx = ForwardCtx::eval();
        let y = if fused {
            m.forward(&x, &mut ctx).unwrap()
        } else {
            let mut h = x.clone();
            for l in m.layers() {
                h = l.forward(&h, &mut ctx).unwrap();
            }
            h
        };
        let g = loss::cross_entropy(&y, &t, Default::default())
            .unwrap()
            .backward()
            .unwrap();
        let mut v = vec![bits(&y)];
        for (_, p) in m.parameters() {
            v.push(bits(p.grad(&g).unwrap()));
        }
        v
    };
    let want = run(false);
    assert!(run(true) == want, "fused and unfused differ");
    let pair = Sequential::new()
        .append(Conv2d::new(2, 4, 3, &mut rng).unwrap())
        .append(Activation::ReLU);
    let op = |ctx: &mut ForwardCtx| pair.forward(&x, ctx).unwrap().op_name();
    assert_eq!(op(&mut ForwardCtx::eval()), Some("conv2d_relu"));
    let _h = health::collect();
    assert!(run(true) == want, "while collecting");
    assert_eq!(health::take().len(), 2, "one statistic per ReLU");
    assert_eq!(op(&mut ForwardCtx::eval()), Some("relu"));
}
