"""Gradients of compositions against PyTorch's (the values were printed by the PyTorch
snippet in each test's docstring, in float64; PyTorch is not needed to run them)."""
import numpy as np

import nabla as nb
import nabla.nn.functional as F


def t64(v, grad=True):
    return nb.tensor(np.array(v, dtype=np.float64), requires_grad=grad)


def test_matmul_tanh():
    """a = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], dtype=torch.float64, requires_grad=True)
    (a @ b).tanh().sum().backward()"""
    a = t64([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    b = t64([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    (a @ b).tanh().sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [[-0.09890643137844846, 0.33802029584711324, 0.24063632089925885],
                                               [-0.06348091371652591, 0.48275070872666326, 0.04812718863213317]], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [[1.2075740769710506, 1.3271599698055907],
                                               [-0.10252042553362695, -0.46644122751339834],
                                               [0.027146410420448186, 0.7645840925577365]], rtol=1e-12)


def test_cross_entropy():
    """x = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(x, torch.tensor([2, 0])).backward()"""
    x = t64([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
    F.cross_entropy(x, nb.tensor([2, 0])).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.11561194881107452, 0.3142658596058812, -0.4298778084169558],
                                               [-0.4914260872272398, 0.023306311288986945, 0.4681197759382529]], rtol=1e-12)


def test_sigmoid_exp_mean_with_broadcasting():
    """x = torch.tensor([[0.3, -0.7], [1.2, 0.1], [-2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5, -1.5], dtype=torch.float64, requires_grad=True)
    ((x * w).sigmoid() * x.exp()).mean(dim=0).sum().backward()"""
    x = t64([[0.3, -0.7], [1.2, 0.1], [-2.0, 0.5]])
    w = t64([0.5, -1.5])
    ((x * w).sigmoid() * x.exp()).mean(dim=0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.2977470631835444, 0.07494030516870304],
                                               [0.8411498809232071, 0.03303416461069042],
                                               [0.016567176423877485, -0.003309087909349223]], rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), [0.3196545061147735, 0.046782629582286656], rtol=1e-12)


def test_softmax_squared():
    """x = torch.tensor([[[1.0, -2.0], [0.5, 3.0]]], dtype=torch.float64, requires_grad=True)
    (x.softmax(-1) ** 2).sum().backward()"""
    x = t64([[[1.0, -2.0], [0.5, 3.0]]])
    (x.softmax(-1) ** 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[[0.08178314932188677, -0.081783149321887],
                                                [-0.11893567169086817, 0.11893567169086795]]], rtol=1e-12, atol=1e-15)


def test_sqrt_div_log_keepdim():
    """x = torch.tensor([[1.0, 4.0], [9.0, 16.0]], dtype=torch.float64, requires_grad=True)
    y = (x.sqrt() / (x + 1.0)).log().sum(dim=1, keepdim=True)
    (y * torch.tensor([[2.0], [-1.0]], dtype=torch.float64)).sum().backward()"""
    x = t64([[1.0, 4.0], [9.0, 16.0]])
    y = (x.sqrt() / (x + 1.0)).log().sum(dim=1, keepdim=True)
    (y * t64([[2.0], [-1.0]], grad=False)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -0.15000000000000002],
                                               [0.044444444444444446, 0.027573529411764705]], rtol=1e-12, atol=1e-15)
