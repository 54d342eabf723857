"""Tensors: NumPy round trips of every rank and dtype (strided inputs too), operators
against NumPy, and autograd's manners (accumulation, no_grad, detach)."""
import numpy as np
import pytest

import nabla as nb


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("rank", range(7))
def test_round_trip_of_every_rank_and_dtype(rank, dtype):
    rng = np.random.default_rng(rank)
    shape = tuple(int(s) for s in rng.integers(1, 4, size=rank))
    a = np.asarray((rng.standard_normal(shape) * 100).astype(dtype))
    for t in (nb.from_numpy(a), nb.tensor(a)):
        b = t.numpy()
        assert b.dtype == a.dtype and b.shape == a.shape and t.shape == a.shape
        np.testing.assert_array_equal(b, a)


def test_strided_arrays_are_read_in_their_logical_order():
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for view in (a.T, a[:, ::2, 1:], a[::-1], np.asfortranarray(a), a.transpose(1, 0, 2)[:, 1]):
        np.testing.assert_array_equal(nb.from_numpy(view).numpy(), view)


def test_python_numbers_give_pytorchs_dtypes():
    assert nb.tensor([1.5, 2.0]).dtype == "float32"
    assert nb.tensor([[1, 2]]).dtype == "int64"
    assert nb.tensor(3.0).shape == ()
    assert nb.tensor([1, 2], dtype="float64").dtype == "float64"
    assert nb.tensor(np.zeros(2, np.float64)).dtype == "float64"


@pytest.mark.parametrize("bad", [np.zeros(3, np.uint8), np.zeros(3, np.int32),
                                 np.zeros(3, np.float16), np.zeros(3, bool)])
def test_other_dtypes_are_a_type_error_naming_the_supported_ones(bad):
    with pytest.raises(TypeError, match="float32, float64 or int64"):
        nb.from_numpy(bad)
    with pytest.raises(TypeError, match="float32, float64 or int64"):
        nb.tensor(bad)


def test_operators_broadcast_as_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 1, 4)).astype(np.float32)
    b = rng.standard_normal((2, 4)).astype(np.float32)
    ta, tb = nb.tensor(a), nb.tensor(b)
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / (tb * tb + 1), a / (b * b + 1)),
                      (2.0 - ta, 2.0 - a), (ta * 3, a * 3), (-ta, -a), (ta ** 2, a ** 2),
                      (ta.exp(), np.exp(a)), (ta.sum(dim=2), a.sum(2)),
                      (ta.mean(dim=(0, 2), keepdim=True), a.mean((0, 2), keepdims=True)),
                      (ta.reshape(4, 3), a.reshape(4, 3)), (ta.transpose(0, 2), a.transpose(2, 1, 0)),
                      (ta.permute(2, 0, 1), a.transpose(2, 0, 1)), (tb @ tb.T, b @ b.T)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tb.softmax(dim=1).numpy(), np.exp(b) / np.exp(b).sum(1, keepdims=True), rtol=1e-5)
    assert tb.argmax(dim=1).dtype == "int64"
    assert ta.sum().item() == pytest.approx(float(a.sum()), rel=1e-5)


def test_grad_accumulates_until_zero_grad():
    w = nb.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert w.grad is None and w.is_leaf and w.requires_grad
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, -4.0, 6.0])
    (w * 3).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [5.0, -1.0, 9.0])
    w.grad = None
    assert w.grad is None
    (w.sum() * 2).backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_optimizer_zero_grad_clears_and_parameters_keep_their_grad_objects():
    m = nb.nn.Linear(3, 2)
    opt = nb.optim.SGD(m.parameters(), lr=0.1)
    x = nb.randn(4, 3)
    m(x).sum().backward()
    g1 = m.weight.grad.numpy()
    m(x).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), 2 * g1, rtol=1e-6)
    before = m.weight.numpy()
    opt.step()
    np.testing.assert_allclose(m.weight.numpy(), before - 0.1 * 2 * g1, rtol=1e-5, atol=1e-7)
    opt.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_no_grad_and_detach_record_nothing():
    w = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        y = w * 2
        assert not nb.is_grad_enabled()
    assert nb.is_grad_enabled()
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()
    z = (w.detach() * w).sum()
    z.backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])

    @nb.no_grad()
    def f(t):
        return t * 3

    assert not f(w).requires_grad


def test_backward_on_a_non_scalar_is_a_runtime_error():
    w = nb.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (w * 2).backward()
    (w * 2).backward(nb.tensor([1.0, 10.0]))
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 20.0])


def test_shape_mismatches_are_value_errors():
    with pytest.raises(ValueError, match="shape|broadcast"):
        nb.tensor(np.ones((2, 3), np.float32)) + nb.tensor(np.ones((4,), np.float32))
    with pytest.raises(ValueError):
        nb.tensor(np.ones((2, 3), np.float32)) @ nb.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError):
        nb.tensor([1.0, 2.0, 3.0]).reshape(2, 2)
    with pytest.raises(TypeError):
        nb.tensor([1.0]) + "a"


def test_gradcheck_passes_for_a_right_gradient_and_fails_for_a_wrong_one():
    x = nb.tensor(np.array([[0.3, -1.2], [0.8, 2.0]]), requires_grad=True)
    w = nb.tensor(np.array([[0.5], [-0.25]]), requires_grad=True)
    assert nb.gradcheck(lambda a, b: (a @ b).tanh() * a.sum(), (x, w))
    # a function whose backward disagrees with its forward: detach hides a dependence
    with pytest.raises(nb.GradcheckError):
        nb.gradcheck(lambda a: a * a.detach(), (x,))
    with pytest.raises(ValueError, match="float64"):
        nb.gradcheck(lambda a: a * 2, (nb.tensor([1.0], requires_grad=True),))


def test_manual_seed_repeats_draws_and_initializations():
    nb.manual_seed(5)
    a, la = nb.randn(3, 2).numpy(), nb.nn.Linear(3, 2).weight.numpy()
    nb.manual_seed(5)
    np.testing.assert_array_equal(a, nb.randn(3, 2).numpy())
    np.testing.assert_array_equal(la, nb.nn.Linear(3, 2).weight.numpy())


def test_indexing_as_numpy_with_gradients():
    a = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    t = nb.tensor(a, requires_grad=True)
    for idx in [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 2), (slice(1, None), slice(None), slice(None, None, 2)),
                (0, slice(None, None, -1)), (None, 1), (1, Ellipsis, None), slice(0, 0)]:
        np.testing.assert_array_equal(t[idx].numpy(), a[idx])
    np.testing.assert_array_equal(t[nb.tensor([1, 0, 1])].numpy(), a[[1, 0, 1]])
    t[:, 1, ::2].sum().backward()
    want = np.zeros_like(a)
    want[:, 1, ::2] = 1
    np.testing.assert_array_equal(t.grad.numpy(), want)
    with pytest.raises(IndexError):
        t[2]
    with pytest.raises(IndexError):
        t[0, 0, 0, 0]
    with pytest.raises(TypeError):
        t["a"]
