"""The issue's program, as written: a classifier trained from Python, saved and loaded."""
import os


def test_the_issue_program(tmp_path):
    os.chdir(tmp_path)
    import numpy as np, nabla as nb
    nb.manual_seed(0); np.random.seed(0)
    x = np.random.rand(256, 4).astype(np.float32); y = (x.sum(1) > 2).astype(np.int64)
    model = nb.nn.Sequential(nb.nn.Linear(4, 16), nb.nn.ReLU(), nb.nn.Linear(16, 2))
    opt = nb.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = nb.nn.functional.cross_entropy(model(nb.tensor(x)), nb.tensor(y))
        opt.zero_grad(); loss.backward(); opt.step()
    model.eval(); out = model(nb.from_numpy(x)).numpy()
    assert out.shape == (256, 2) and out.dtype == np.float32
    assert (out.argmax(1) == y).mean() > 0.9
    nb.save(model.state_dict(), "m.safetensors")
    m2 = nb.nn.Sequential(nb.nn.Linear(4, 16), nb.nn.ReLU(), nb.nn.Linear(16, 2))
    m2.load_state_dict(nb.load("m.safetensors"))
    np.testing.assert_array_equal(m2(nb.tensor(x)).numpy(), out)
