"""The int8 ONNX model: ONNX Runtime's static QDQ quantization, calibrated with exact ranges.

`quantize` runs `onnxruntime.quantization.quantize_static` in QDQ format with per-channel weights
of `WEIGHT_TYPE`, int32 biases, and activations of `ACTIVATION_TYPE`. ONNX Runtime's own
calibration runs the float model in ONNX Runtime, whose float kernels' last bits depend on the
CPU, and the scales it derives (hence the file's bytes) would too. So the ranges are not
measured here: every activation's range over the calibration images comes from the float64
network (`litert_network.activation_ranges`, the ranges the LiteRT int8 models use) and
reaches the quantizer through its calibration cache (`calibration_cache_path`, a JSON file of
`TensorsData`): with a cache present, `quantize_static` skips calibration and uses the ranges
as given. Each range is rounded to the nearest float32; the quantizer's arithmetic on them
(scale = (max - min) / 255, zero point by rounding) is correctly rounded IEEE, the same
everywhere.

`tensor_ranges` maps the ONNX graph's tensors to those ranges by walking the graph in order
beside the network's ops (`FoldedNetwork.op_kinds`): Mul, Sub, then each convolution (whose
range is its relu6 output's; tf2onnx puts that relu6 after it as a Clip, which takes the same
range and which ONNX Runtime removes, since quantizing to a range within [0, 6] saturates as
relu6 does), each residual Add, the
GlobalAveragePool and the logits Gemm; Transpose and Squeeze take their input's range. A graph
that does not line up with the network is refused.

Both types are QUInt8 (asymmetric uint8), so that no CPU's kernels saturate. With int8
weights, ONNX Runtime's x86 kernels for CPUs without VNNI (AVX2, or AVX-512 before VNNI)
multiply uint8 activations by int8 weights with an instruction that adds pairs of products in
16 bits, saturating: on an AVX2 machine the int8-weight model's worst cosine against the
SavedModel fell to 0.44 (0.96 with VNNI). ONNX Runtime's uint8 x uint8 kernels do not
saturate (its quantization documentation gives them, and 7-bit weights, as the remedies);
7-bit weights (`reduce_range`) agree worse (docs/onnx.md).
"""

import os
import tempfile

import numpy as np

from export.formats.onnx import model as onnx_model

ACTIVATION_TYPE = "QUInt8"
WEIGHT_TYPE = "QUInt8"
# LiteRT op kinds (`FoldedNetwork.op_kinds`) -> the ONNX op that computes the same tensor.
ONNX_OPS = {
  "MUL": "Mul",
  "SUB": "Sub",
  "CONV_2D": "Conv",
  "DEPTHWISE_CONV_2D": "Conv",
  "ADD": "Add",
  "MEAN": "GlobalAveragePool",
  "FULLY_CONNECTED": "Gemm",
}


def tensor_ranges(model, op_kinds, ranges: np.ndarray) -> dict:
  """{tensor name: (low, high)} for the graph's input and every activation the ops compute."""
  graph = model.graph
  if len(ranges) != len(op_kinds) + 1:
    raise ValueError(f"{len(ranges)} ranges for {len(op_kinds)} ops and the input")
  result = {graph.input[0].name: tuple(ranges[0])}
  wanted = [ONNX_OPS[kind] for kind in op_kinds]
  found = []
  for node in graph.node:
    if node.op_type in onnx_model.VALUE_PRESERVING_OPS:
      result[node.output[0]] = result[node.input[0]]
    elif node.op_type == "Clip" and found and found[-1] == "Conv":
      # Both take relu6's range: quantizing the conv's output to it saturates as relu6 does.
      result[node.output[0]] = result[node.input[0]]
    else:
      found.append(node.op_type)
      if found != wanted[: len(found)]:
        break
      result[node.output[0]] = tuple(ranges[len(found)])
  if found != wanted:
    raise ValueError(f"the ONNX graph's ops {found} do not line up with the network's {wanted}")
  return result


def quantize(
  float_model,
  op_kinds,
  ranges: np.ndarray,
  activation_type: str = ACTIVATION_TYPE,
  weight_type: str = WEIGHT_TYPE,
  reduce_range: bool = False,
):
  """The QDQ 8-bit ModelProto of a normalized float32 model (`onnx_model.convert`).

  `ranges` are `litert_network.activation_ranges` of the network the model was converted from.
  The types are `quantization.QuantType` names; other types than the defaults, and 7-bit
  weights (`reduce_range`), are for the studies of scripts/benchmark_onnx.py. `float_model` is
  not changed.
  """
  # pylint: disable=g-import-not-at-top
  import onnx
  from onnxruntime import quantization
  from onnxruntime.quantization import calibrate
  # pylint: enable=g-import-not-at-top

  by_tensor = tensor_ranges(float_model, op_kinds, ranges)
  data = calibrate.TensorsData(
    quantization.CalibrationMethod.MinMax,
    {
      name: calibrate.TensorData(lowest=np.float32(low), highest=np.float32(high))
      for name, (low, high) in sorted(by_tensor.items())
    },
  )
  with tempfile.TemporaryDirectory(prefix="onnx_quantize_") as scratch:
    cache = os.path.join(scratch, "ranges.json")
    calibrate.save_tensors_data(data, cache)
    prepared = os.path.join(scratch, "prepared.onnx")
    # ONNX shape inference only: ORT's graph optimizer (skipped) would fold with its kernels.
    copied = type(float_model)()
    copied.CopyFrom(float_model)  # the preparation may change the model it is given
    quantization.quant_pre_process(
      copied, prepared, skip_optimization=True, skip_symbolic_shape=True
    )
    output = os.path.join(scratch, "int8.onnx")
    quantization.quantize_static(
      prepared,
      output,
      calibration_data_reader=None,
      calibration_cache_path=cache,
      quant_format=quantization.QuantFormat.QDQ,
      per_channel=True,
      activation_type=getattr(quantization.QuantType, activation_type),
      weight_type=getattr(quantization.QuantType, weight_type),
      reduce_range=reduce_range,
      calibrate_method=quantization.CalibrationMethod.MinMax,
    )
    quantized = onnx.load(output)
  quantized.graph.ClearField("value_info")
  return quantized
