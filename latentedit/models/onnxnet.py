"""A torch module that runs a small feed-forward ONNX graph (convolutions, pooling, dense layers) on any device.

Weights are the graph's initializers, read with the ``onnx`` package; the nodes are executed in order with the
torch functions below. Only the operators used by the packaged age and gender networks are supported.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError


def _conv(x, w, b=None, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1, **_):
    if pads[:2] != pads[2:]:
        raise ValueError(f"asymmetric convolution padding {pads}")
    return F.conv2d(x, w, b, stride=tuple(strides), padding=tuple(pads[:2]), dilation=tuple(dilations), groups=group)


def _pool(fn):
    def run(x, *, kernel_shape, strides=(1, 1), pads=(0, 0, 0, 0), ceil_mode=0, **extra):
        if pads[:2] != pads[2:]:
            raise ValueError(f"asymmetric pooling padding {pads}")
        options = {"count_include_pad": bool(extra["count_include_pad"])} if "count_include_pad" in extra else {}
        return fn(x, tuple(kernel_shape), tuple(strides), tuple(pads[:2]), ceil_mode=bool(ceil_mode), **options)

    return run


def _pad(x, pads, value=None, *, mode=b"constant", **_):
    if mode != b"constant":
        raise ValueError(f"unsupported padding mode {mode!r}")
    pads = pads.tolist()
    half = len(pads) // 2
    torch_pads = [p for axis in reversed(range(half)) for p in (pads[axis], pads[axis + half])]
    return F.pad(x, torch_pads, value=0.0 if value is None else float(value))


def _gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    out = alpha * ((a.T if transA else a) @ (b.T if transB else b))
    return out if c is None else out + beta * c


OPERATORS = {
    "Conv": _conv,
    "MaxPool": _pool(F.max_pool2d),
    "AveragePool": _pool(F.avg_pool2d),
    "GlobalAveragePool": lambda x: x.mean((2, 3), keepdim=True),
    "Pad": _pad,
    "Relu": lambda x: F.relu(x),
    "Add": lambda a, b: a + b,
    "Mul": lambda a, b: a * b,
    "Flatten": lambda x, axis=1: x.flatten(axis),
    "Gemm": _gemm,
    "Softmax": lambda x, axis=-1: x.softmax(axis),
}


class OnnxNet(nn.Module):
    """The graph of an ``.onnx`` file as a torch module: ``forward(x)`` returns its single output."""

    def __init__(self, path: Path, tiny: float = 1e-20) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        try:
            model = onnx.load(str(path))
        except Exception as exc:  # onnx raises protobuf's DecodeError and others for bad files
            raise WeightsError(f"cannot read ONNX model {path}: {type(exc).__name__}") from None
        graph = model.graph
        if len(graph.output) != 1:
            raise WeightsError(f"ONNX model {path} must have one output, it has {len(graph.output)}")
        for tensor in graph.initializer:
            self.register_buffer(tensor.name, torch.from_numpy(np.array(numpy_helper.to_array(tensor))))
        initialized = {tensor.name for tensor in graph.initializer}
        self.input_name = next(i.name for i in graph.input if i.name not in initialized)
        self.output_name = graph.output[0].name
        self.nodes: list[tuple[str, list[str], str, dict]] = []
        for node in graph.node:
            if node.op_type not in OPERATORS or len(node.output) != 1:
                raise WeightsError(f"ONNX model {path} uses unsupported operator {node.op_type}")
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            self.nodes.append((node.op_type, list(node.input), node.output[0], attributes))
        self._fold_affine()
        self._zero_tiny(tiny)

    def _fold_affine(self) -> None:
        """Fold ``Conv -> Mul(per-channel constant) -> Add(per-channel constant)`` (dlib's affine layers, i.e.
        batch norm) into the convolution's weights and bias: the same function in a third of the passes."""
        buffers = dict(self.named_buffers())
        uses: dict[str, int] = {}
        for _, inputs, _, _ in self.nodes:
            for name in inputs:
                uses[name] = uses.get(name, 0) + 1
        folded, i = [], 0
        while i < len(self.nodes):
            op, inputs, output, attributes = self.nodes[i]
            chain = self.nodes[i + 1 : i + 3]
            if (
                op == "Conv"
                and len(inputs) == 3
                and [n[0] for n in chain] == ["Mul", "Add"]
                and chain[0][1] == [output, chain[0][1][1]]
                and chain[1][1] == [chain[0][2], chain[1][1][1]]
                and uses[output] == 1
                and uses[chain[0][2]] == 1
                and all(
                    n[1][1] in buffers and buffers[n[1][1]].shape == (1, buffers[inputs[1]].shape[0], 1, 1)
                    for n in chain
                )
            ):
                scale, offset = buffers[chain[0][1][1]].flatten(), buffers[chain[1][1][1]].flatten()
                weight, bias = inputs[1] + "_folded", inputs[2] + "_folded"
                self.register_buffer(weight, buffers[inputs[1]] * scale.view(-1, 1, 1, 1))
                self.register_buffer(bias, buffers[inputs[2]] * scale + offset)
                folded.append((op, [inputs[0], weight, bias], chain[1][2], attributes))
                i += 3
            else:
                folded.append(self.nodes[i])
                i += 1
        self.nodes = folded

    def _zero_tiny(self, tiny: float) -> None:
        """Set weights smaller than ``tiny`` in magnitude to 0. dlib's age network has 13 000 of them in two
        convolutions (down to 3e-42, most of them denormal numbers): products with them are denormal, which the CPU
        computes several times slower (the age network ran 4x slower for them), and at 1e-20 they cannot move a
        float32 output of order 1e-3 or more (tests/test_fast_scoring.py: the same bits on real chips)."""
        for buffer in self.buffers():
            if buffer.is_floating_point():
                buffer.masked_fill_(buffer.abs() < tiny, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x, [self.output_name])[0]

    def activations(self, x: torch.Tensor, names: Sequence[str]) -> list[torch.Tensor]:
        """The values named ``names`` (node outputs), running the graph only as far as they need."""
        values = {self.input_name: x, **dict(self.named_buffers())}
        todo = set(names) - values.keys()
        for op, inputs, output, attributes in self.nodes:
            if not todo:
                break
            values[output] = OPERATORS[op](*(values[name] for name in inputs if name), **attributes)
            todo.discard(output)
        if todo:
            raise KeyError(f"no node output named {', '.join(sorted(todo))}")
        return [values[name] for name in names]
