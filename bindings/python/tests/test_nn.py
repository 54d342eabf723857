"""Layers, state dicts and checkpoints: PyTorch's names and return values, modes, and the
exceptions bad input raises."""
import numpy as np
import pytest

import nabla as nb
import nabla.nn as nn
import nabla.nn.functional as F


def names(m):
    return list(m.state_dict().keys())


def test_state_dict_keys_are_pytorchs():
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    assert names(m) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"]
    assert not m[1].running_mean.requires_grad and m[1].weight.requires_grad
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    assert {"weight_ih_l0", "weight_hh_l1_reverse", "bias_ih_l1", "bias_hh_l0_reverse"} <= set(names(lstm))
    assert nn.Linear(2, 3, bias=False).state_dict().keys() == {"weight"}


def test_layers_give_pytorchs_shapes():
    x = nb.randn(2, 3, 8, 8)
    assert nn.Conv2d(3, 5, 3, stride=2, padding=1)(x).shape == (2, 5, 4, 4)
    assert nn.Conv2d(3, 5, 3, padding="same")(x).shape == (2, 5, 8, 8)
    assert nn.AvgPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)
    assert nn.LayerNorm(8)(x).shape == (2, 3, 8, 8)
    ids = nb.tensor([[1, 2, 3], [0, 4, 4]])
    e = nn.Embedding(5, 6)(ids)
    assert e.shape == (2, 3, 6)
    att, w = nn.MultiheadAttention(6, 2, batch_first=True)(e, e, e)
    assert att.shape == (2, 3, 6) and w is None
    enc = nn.TransformerEncoder(6, 2, 2, dim_feedforward=8, batch_first=True, norm_first=True)
    assert enc(e).shape == (2, 3, 6)
    assert nn.TransformerEncoderLayer(6, 3, dim_feedforward=8)(e.transpose(0, 1)).shape == (3, 2, 6)


def test_recurrent_layers_return_their_state_and_sequential_passes_the_output():
    x = nb.randn(4, 2, 3)  # [T, N, F]
    y, (h, c) = nn.LSTM(3, 5, num_layers=2)(x)
    assert y.shape == (4, 2, 5) and h.shape == (2, 2, 5) and c.shape == (2, 2, 5)
    y, h = nn.GRU(3, 5, batch_first=True, bidirectional=True)(x)
    assert y.shape == (4, 2, 10) and h.shape == (2, 4, 5)
    lstm = nn.LSTM(3, 5)
    y1, (h1, c1) = lstm(x)
    # continuing from the state equals running the whole sequence
    a, (ha, ca) = lstm(x.narrow(0, 0, 2))
    b, (hb, cb) = lstm(x.narrow(0, 2, 2), (ha, ca))
    np.testing.assert_allclose(hb.numpy(), h1.numpy(), rtol=1e-5, atol=1e-6)
    lm = nn.Sequential(nn.Embedding(7, 4), nn.LSTM(4, 8, batch_first=True), nn.Linear(8, 7))
    assert lm(nb.tensor([[1, 2, 3]])).shape == (1, 3, 7)


def test_dropout_and_batch_norm_follow_the_mode():
    d = nn.Dropout(0.5)
    x = nb.ones(1000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 300 < (y == 0).sum() < 700
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    bn = nn.BatchNorm1d(2)
    xb = nb.tensor(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))
    bn(xb)
    np.testing.assert_allclose(bn.running_mean.numpy(), [0.2, 2.0], rtol=1e-6)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    y = bn(xb).numpy()
    assert bn.num_batches_tracked.item() == 1
    # running var: 0.9 * 1 + 0.1 * 2 (the batch's unbiased variance), as PyTorch
    np.testing.assert_allclose(y[:, 0], (np.array([1.0, 3.0]) - 0.2) / np.sqrt(1.1 + 1e-5), rtol=1e-5)
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    m.eval()
    assert not m[1].training and not m.training
    m.train()
    assert m[1].training


def test_a_custom_module_sees_its_parameters_and_trains():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(2, 8)
            self.scale = nn.Parameter(nb.ones(1))

        def forward(self, x):
            return (self.body(x).tanh() * self.scale).sum(dim=1)

    net = Net()
    assert names(net) == ["scale", "body.weight", "body.bias"]
    assert [n for n, _ in net.named_parameters()] == ["scale", "body.weight", "body.bias"]
    opt = nb.optim.AdamW(net.parameters(), lr=0.05)
    x = nb.randn(32, 2)
    target = x.sum(dim=1) * 0.5
    first = None
    for _ in range(60):
        loss = F.mse_loss(net(x), target)
        first = first if first is not None else loss.item()
        opt.zero_grad(); loss.backward(); opt.step()
    assert loss.item() < first / 4


@pytest.mark.parametrize("make", [lambda p: nb.optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: nb.optim.RMSprop(p, lr=0.01),
                                  lambda p: nb.optim.Adagrad(p, lr=0.1),
                                  lambda p: nb.optim.Adam(p, lr=0.01, amsgrad=True)])
def test_every_optimizer_lowers_a_loss(make):
    m = nn.Linear(3, 1)
    opt = make(m.parameters())
    x = nb.randn(16, 3)
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(m(x), y)
        losses.append(loss.item())
        opt.zero_grad(); loss.backward(); opt.step()
    assert losses[-1] < losses[0]


def test_schedules_set_the_learning_rate():
    opt = nb.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
    s = nb.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(4):
        s.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    c = nb.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    for _ in range(4):
        c.step()
    assert opt.lr == pytest.approx(0.0, abs=1e-12)


def test_bad_optimizer_values_name_the_key():
    p = nn.Linear(2, 2).parameters()
    with pytest.raises(ValueError, match="betas"):
        nb.optim.Adam(p, betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="lr"):
        nb.optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        nb.optim.SGD(p, lr=0.1, momentum=-0.5)
    with pytest.raises(TypeError):
        nb.optim.SGD([nb.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError):
        nb.optim.SGD([nn.BatchNorm1d(2).running_mean], lr=0.1)


def test_bad_layer_arguments_are_value_errors():
    with pytest.raises(ValueError):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        nn.Linear(3, 2)(nb.randn(4, 5))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(IndexError):
        nn.Embedding(3, 2)(nb.tensor([5]))


def test_checkpoints_round_trip_and_bad_ones_raise(tmp_path):
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m(nb.randn(5, 3))
    path = tmp_path / "m.safetensors"
    nb.save(m.state_dict(), path)
    loaded = nb.load(path)
    assert list(loaded) == sorted(names(m)) or set(loaded) == set(names(m))
    m2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    m2.load_state_dict(loaded)
    m.eval(); m2.eval()
    x = nb.randn(3, 3)
    np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())
    with pytest.raises(FileNotFoundError):
        nb.load(tmp_path / "missing.safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError):
        nb.load(damaged)
    other = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="0.weight"):
        other.load_state_dict(loaded)
    with pytest.raises(ValueError, match="missing"):
        nn.Sequential(nn.Linear(3, 4)).load_state_dict({})
    with pytest.raises(OSError):
        nb.save(m.state_dict(), tmp_path / "no" / "such" / "m.safetensors")
