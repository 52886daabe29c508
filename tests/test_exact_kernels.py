"""The compiled kernels of the fixed-order network run NumPy's operation sequence, bit for bit."""

import re

import numba
import numpy as np
import pytest

from nets import exact_kernels
from nets import numpy_mobilenet_v2

# x86 (VEX/EVEX) and ARM mnemonics of a fused multiply-add or -subtract.
FUSED_MULTIPLY_ADD = re.compile(r"\b(v?f(n)?m(add|sub)\w*|fml[as]\w*|fn?madd\w*|fn?msub\w*)\b")


def _bits(values):
  return np.asarray(values, np.float64).view(np.uint64)


def _numpy_matmul(a, b):
  """The sequence as NumPy's elementwise operations: total += a[:, k] b[k], from zeros."""
  total = np.zeros((a.shape[0], b.shape[1]))
  for k in range(a.shape[1]):
    total += a[:, k][:, None] * b[k]
  return total


def _numpy_taps(net, kernel, stride):
  """(dy, dx, the input pixels under tap (dy, dx) of every output pixel): SAME zero padding."""
  size = net.shape[1]
  out_size = -(-size // stride)
  total = max((out_size - 1) * stride + kernel - size, 0)
  before, after = total // 2, total - total // 2
  padded = np.pad(net, ((0, 0), (before, after), (before, after), (0, 0)))
  reach = (out_size - 1) * stride + 1
  for dy in range(kernel):
    for dx in range(kernel):
      yield dy, dx, padded[:, dy : dy + reach : stride, dx : dx + reach : stride, :]


def _numpy_conv2d(net, kernel, stride):
  """Per tap, `_numpy_matmul` over input channels; the first tap's sum, then + each further."""
  out = None
  for dy, dx, pixels in _numpy_taps(net, kernel.shape[0], stride):
    n, h, w, c = pixels.shape
    partial = _numpy_matmul(pixels.reshape(n * h * w, c), kernel[dy, dx]).reshape(n, h, w, -1)
    out = partial if out is None else out + partial
  return out


def _numpy_depthwise(net, kernel, stride):
  """The first tap's product, then + each further tap's."""
  out = None
  for dy, dx, pixels in _numpy_taps(net, kernel.shape[0], stride):
    partial = pixels * kernel[dy, dx, :, 0]
    out = partial if out is None else out + partial
  return out


def _values(rng, shape):
  """Spread magnitudes, both signs, exact zeros of both signs: where orders would show."""
  values = rng.standard_normal(shape) * 2.0 ** rng.integers(-30, 30, shape)
  values[rng.random(shape) < 0.05] = 0.0
  values[rng.random(shape) < 0.05] = -0.0
  return values


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 3, 32), (9, 96, 24), (13, 320, 1001), (4, 5, 1)])
def test_matmul_is_numpys_sequence_bit_for_bit(m, k, n):
  rng = np.random.default_rng(m * 1000 + k)
  a, b = _values(rng, (m, k)), _values(rng, (k, n))
  np.testing.assert_array_equal(_bits(exact_kernels.matmul(a, b)), _bits(_numpy_matmul(a, b)))


def test_matmul_rounds_after_each_product_and_each_sum():
  # fl(fl(1 + 2^-53) + 2^-53) is 1 sequentially; an exact sum or a fused multiply-add is not.
  a = np.array([[1.0, 2.0**-53, 2.0**-53]])
  b = np.ones((3, 1))
  assert exact_kernels.matmul(a, b)[0, 0] == 1.0
  # -1 + fl(x * x) loses x * x's last term 2^-60 (x = 1 + 2^-30); a fused multiply-add keeps it.
  x = 1.0 + 2.0**-30
  assert exact_kernels.matmul(np.array([[-1.0, x]]), np.array([[1.0], [x]]))[0, 0] == 2.0**-29


@pytest.mark.parametrize("size,stride,kernel_size", [(7, 2, 3), (8, 2, 3), (5, 1, 3), (4, 1, 1)])
def test_conv2d_is_numpys_sequence_bit_for_bit(size, stride, kernel_size):
  rng = np.random.default_rng(size * 10 + stride)
  net = _values(rng, (2, size, size, 3))
  net[0, :3, :3] = 0.0
  kernel = _values(rng, (kernel_size, kernel_size, 3, 16))
  got = numpy_mobilenet_v2.conv2d(net, kernel, stride)
  np.testing.assert_array_equal(_bits(got), _bits(_numpy_conv2d(net, kernel, stride)))


@pytest.mark.parametrize("size,stride", [(5, 1), (6, 1), (7, 2), (8, 2), (1, 1)])
def test_depthwise_is_numpys_sequence_bit_for_bit(size, stride):
  rng = np.random.default_rng(size * 10 + stride)
  net = _values(rng, (2, size, size, 11))
  net[0, :3, :3] = 0.0  # all-zero windows: the sign of a zero sum depends on the order
  kernel = _values(rng, (3, 3, 11, 1))
  kernel[:, :, 0] = -np.abs(kernel[:, :, 0])
  got = numpy_mobilenet_v2.depthwise_conv2d(net, kernel, stride)
  np.testing.assert_array_equal(_bits(got), _bits(_numpy_depthwise(net, kernel, stride)))


@pytest.mark.slow  # compiles the kernels afresh: seconds
def test_compiled_kernels_have_no_fused_multiply_add():
  # Compiled afresh (cached code cannot be inspected), for the argument types the network uses.
  matrix, image = numba.float64[:, ::1], numba.float64[:, :, :, ::1]
  kernels = {
    "matmul": (exact_kernels._matmul_into, (matrix, matrix, matrix)),  # pylint: disable=protected-access
    "conv2d": (
      exact_kernels._conv_into,  # pylint: disable=protected-access
      (image, image, numba.int64, numba.int64, image),
    ),
    "depthwise": (
      exact_kernels._depthwise_into,  # pylint: disable=protected-access
      (image, numba.float64[:, :, ::1], numba.int64, numba.int64, image),
    ),
  }
  for name, (kernel, signature) in kernels.items():
    fresh = numba.njit(signature, nogil=True)(kernel.py_func)
    assembly = "\n".join(fresh.inspect_asm().values())
    assert re.search(r"\bv?mul[sp]d\b|\bfmul\b", assembly), f"{name}: no multiply found"
    assert not FUSED_MULTIPLY_ADD.search(assembly), f"{name}: fused multiply-add in its code"
