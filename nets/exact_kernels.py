"""The fixed-order network's inner loops, compiled: the same operations, without NumPy's overhead.

`nets/numpy_mobilenet_v2.py` fixes, for every output value, the sequence of correctly rounded
IEEE-754 operations that computes it; these kernels run exactly that sequence, only without
NumPy's temporaries and Python's loop overhead (a 1x1 convolution ran at 8-13 billion
multiply-adds a second here, against 0.2-0.4 as NumPy elementwise operations):

  matmul     out[i, j] = fl(…fl(fl(0 + fl(a[i, 0] b[0, j])) + fl(a[i, 1] b[1, j]))…), k = 0, 1, …
             in order; each weight loaded serves four rows of `a`.
  conv2d     per tap (dy, dx), row-major, `matmul`'s sum over input channels; the output is
             the first tap's sum, then + each further tap's (the 3x3 first convolution).
  depthwise  out[…, c] = fl(…fl(p0 k0 + fl(p1 k1))…), taps in row-major order, the first
             tap's product taken as it is (no added zero), as NumPy's `p0 * k0 + …` does.

Padding pixels take part as zeros (their products too), so even the sign of a zero result is
NumPy's.

What makes that sequence the same bits on every machine is what Numba leaves out: without
`fastmath` it gives LLVM no fast-math flags, so LLVM may neither reassociate a sum nor contract
a multiply and an add into a fused multiply-add (FMA rounds once where the sequence rounds
twice). Vectorizing across `j` or `c` runs independent outputs side by side and changes no
output's sequence. `tests/test_exact_kernels.py` holds both: the compiled machine code has no
FMA instruction, and the kernels agree bit for bit with NumPy's elementwise formulation.

Compiled on first use and cached beside this file (Numba's `cache=True`, keyed by the source
and the CPU), so only the first process on a machine pays the compilation (about 6 s of CPU).
"""

import numba
import numpy as np

_ROWS = 4  # rows of `a` accumulated together: each loaded row of `b` serves four outputs


@numba.njit(nogil=True, cache=True)
def _matmul_into(a, b, out):
  depth, columns = b.shape
  total = np.empty((_ROWS, columns))
  for start in range(0, a.shape[0], _ROWS):
    rows = min(_ROWS, a.shape[0] - start)
    total[:] = 0.0
    for k in range(depth):
      weights = b[k]
      if rows == _ROWS:
        x0, x1, x2, x3 = a[start, k], a[start + 1, k], a[start + 2, k], a[start + 3, k]
        t0, t1, t2, t3 = total[0], total[1], total[2], total[3]
        for j in range(columns):
          w = weights[j]
          t0[j] = t0[j] + x0 * w
          t1[j] = t1[j] + x1 * w
          t2[j] = t2[j] + x2 * w
          t3[j] = t3[j] + x3 * w
      else:
        for r in range(rows):
          x, t = a[start + r, k], total[r]
          for j in range(columns):
            t[j] = t[j] + x * weights[j]
    out[start : start + rows] = total[:rows]
  return out


@numba.njit(nogil=True, cache=True)
def _conv_into(net, kernel, stride, before, out):
  taps, channels = kernel.shape[0] * kernel.shape[1], kernel.shape[2]
  partial = np.empty(kernel.shape[3])
  for n in range(out.shape[0]):
    for y in range(out.shape[1]):
      for x in range(out.shape[2]):
        total = out[n, y, x]
        for tap in range(taps):
          dy, dx = tap // kernel.shape[1], tap % kernel.shape[1]
          row, column = y * stride + dy - before, x * stride + dx - before
          inside = 0 <= row < net.shape[1] and 0 <= column < net.shape[2]
          partial[:] = 0.0
          for c in range(channels):
            value = net[n, row, column, c] if inside else 0.0  # zero padding, multiplied too
            weights = kernel[dy, dx, c]
            for j in range(partial.shape[0]):
              partial[j] = partial[j] + value * weights[j]
          if tap == 0:
            total[:] = partial
          else:
            for j in range(partial.shape[0]):
              total[j] = total[j] + partial[j]
  return out


@numba.njit(nogil=True, cache=True)
def _depthwise_into(net, kernel, stride, before, out):
  zeros = np.zeros(net.shape[3])
  for n in range(out.shape[0]):
    for y in range(out.shape[1]):
      for x in range(out.shape[2]):
        total = out[n, y, x]
        for dy in range(kernel.shape[0]):
          for dx in range(kernel.shape[1]):
            row, column = y * stride + dy - before, x * stride + dx - before
            inside = 0 <= row < net.shape[1] and 0 <= column < net.shape[2]
            pixel = net[n, row, column] if inside else zeros  # zero padding, multiplied too
            weights = kernel[dy, dx]
            if dy == 0 and dx == 0:
              for c in range(out.shape[3]):
                total[c] = pixel[c] * weights[c]
            else:
              for c in range(out.shape[3]):
                total[c] = total[c] + pixel[c] * weights[c]
  return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """a [M, K] @ b [K, N] in float64, accumulated over k = 0, 1, … in that order from zero."""
  a, b = _float64(a), _float64(b)
  if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
    raise ValueError(f"matmul of shapes {a.shape} and {b.shape}: expected [M, K] and [K, N]")
  return _matmul_into(a, b, np.empty((a.shape[0], b.shape[1])))


def conv2d(net: np.ndarray, kernel: np.ndarray, stride: int, before: int, out_size: int):
  """[N, out_size, out_size, O]: NHWC `net` zero-padded by `before` at the top and left (and as
  far as the taps reach at the bottom and right) under HWIO `kernel`, with `stride`."""
  net, kernel = _float64(net), _float64(kernel)
  out = np.empty((net.shape[0], out_size, out_size, kernel.shape[3]))
  return _conv_into(net, kernel, int(stride), int(before), out)


def depthwise(net: np.ndarray, kernel: np.ndarray, stride: int, before: int, out_size: int):
  """[N, out_size, out_size, C]: as `conv2d`, each channel under its own [kh, kw] `kernel`."""
  net, kernel = _float64(net), _float64(kernel)
  out = np.empty((net.shape[0], out_size, out_size, net.shape[3]))
  return _depthwise_into(net, kernel, int(stride), int(before), out)


def _float64(values) -> np.ndarray:
  return np.ascontiguousarray(values, dtype=np.float64)
