"""The seed's program (../../shared/seed/backpropagation.md, a two-layer network learning
XOR) with nabla tensors in place of NumPy for every computation: the same random
initialization (NumPy's, as the seed does it), the same loop, and the same print.
Names are rebound where the seed updates in place (``w1 = w1 + ...``).

    python examples/python/xor_seed.py            # the seed's deltas, written by hand
    python examples/python/xor_seed.py --autograd # the deltas from backward()
"""
import sys

import numpy as np

import nabla as nb


# sigmoid function and its derivative
def sigmoid(x):
    return 1 / (1 + (-x).exp())


def sigmoid_derivative(x):
    return x * (1 - x)


# input dataset (float64, as NumPy's dot of these ints with float weights gives)
X = nb.tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), dtype="float64")

# output dataset
y = nb.tensor(np.array([[0], [1], [1], [0]]), dtype="float64")

# seed random numbers to make calculation deterministic
np.random.seed(1)

# initialize weights randomly with mean 0
w0 = nb.tensor(2 * np.random.random((2, 2)) - 1)
w1 = nb.tensor(2 * np.random.random((2, 1)) - 1)

if "--autograd" not in sys.argv[1:]:
    for i in range(10000):
        # forward propagation
        l0 = X
        l1 = sigmoid(l0 @ w0)
        l2 = sigmoid(l1 @ w1)

        # how much did we miss?
        l2_error = y - l2

        # multiply how much we missed by the slope of the sigmoid at the values in l2
        l2_delta = l2_error * sigmoid_derivative(l2)

        # how much did each l1 value contribute to the l2 error (according to the weights)?
        l1_error = l2_delta @ w1.T

        # multiply how much we missed by the slope of the sigmoid at the values in l1
        l1_delta = l1_error * sigmoid_derivative(l1)

        # update weights
        w1 = w1 + l1.T @ l2_delta
        w0 = w0 + l0.T @ l1_delta
else:
    # the same network, its deltas from backward(): the seed's update w += l.T @ delta is
    # a step of 1 down the gradient of half the summed squared error
    w0.requires_grad_()
    w1.requires_grad_()
    for i in range(10000):
        l0 = X
        l1 = (l0 @ w0).sigmoid()
        l2 = (l1 @ w1).sigmoid()
        loss = ((y - l2) ** 2).sum() * 0.5
        loss.backward()
        with nb.no_grad():
            w0 = (w0 - w0.grad).detach().requires_grad_()
            w1 = (w1 - w1.grad).detach().requires_grad_()
    l2 = l2.detach()

print("Output after training:")
print(l2.numpy())
