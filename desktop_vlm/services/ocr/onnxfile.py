"""Just enough of the ONNX file format (protocol buffers) to read a model's metadata and the
weights of one layer, without the 15 MB ``onnx`` package.

An ONNX file is a ``ModelProto`` message: field 7 is the graph, field 14 the metadata
(key/value strings). In the graph, field 5 holds the initializers (``TensorProto``: dims 1,
data_type 2, name 8, raw_data 9). Every field is skipped by its wire type, so the 21 MB
recogniser is walked in a few milliseconds and nothing it contains is executed or trusted
beyond the bounds of the buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

FLOAT = 1  # TensorProto.DataType.FLOAT

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_GRAPH_INITIALIZER = 5
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_RAW = 1, 2, 8, 9


class FormatError(ValueError):
    """The bytes are not a well-formed protocol-buffer message."""


@dataclass(frozen=True)
class Tensor:
    name: str
    dims: tuple[int, ...]
    data_type: int
    raw: memoryview


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise FormatError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field; length-delimited values as views."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == _BYTES:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise FormatError("field runs past the end of its message")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > end:
                raise FormatError("field runs past the end of its message")
            yield number, wire, int.from_bytes(buf[pos : pos + size], "little")
            pos += size
        else:
            raise FormatError(f"unsupported wire type {wire}")


def metadata(model: bytes) -> dict[str, str]:
    """The model's ``metadata_props`` (PaddleOCR keeps the character list there)."""
    found: dict[str, str] = {}
    for number, wire, value in fields(memoryview(model)):
        if number == _MODEL_METADATA and wire == _BYTES:
            entry = {n: v for n, w, v in fields(value) if w == _BYTES}  # type: ignore[arg-type]
            key, val = entry.get(1), entry.get(2)
            if key is not None:
                found[bytes(key).decode("utf-8", "replace")] = bytes(val or b"").decode(
                    "utf-8", "replace"
                )
    return found


def initializers(model: bytes, wanted: Callable[[tuple[int, ...]], bool]) -> list[Tensor]:
    """The graph's initializers stored as ``raw_data`` whose dims ``wanted`` accepts."""
    found = []
    for number, wire, value in fields(memoryview(model)):
        if number != _MODEL_GRAPH or wire != _BYTES:
            continue
        for g_number, g_wire, g_value in fields(value):  # type: ignore[arg-type]
            if g_number == _GRAPH_INITIALIZER and g_wire == _BYTES:
                tensor = _tensor(g_value)  # type: ignore[arg-type]
                if tensor is not None and wanted(tensor.dims):
                    found.append(tensor)
    return found


def _tensor(buf: memoryview) -> Tensor | None:
    dims: list[int] = []
    name, data_type, raw = "", 0, None
    for number, wire, value in fields(buf):
        if number == _TENSOR_DIMS:
            if wire == _VARINT:
                dims.append(value)  # type: ignore[arg-type]
            elif wire == _BYTES:  # packed
                pos = 0
                while pos < len(value):  # type: ignore[arg-type]
                    dim, pos = _varint(value, pos)  # type: ignore[arg-type]
                    dims.append(dim)
        elif number == _TENSOR_TYPE and wire == _VARINT:
            data_type = value  # type: ignore[assignment]
        elif number == _TENSOR_NAME and wire == _BYTES:
            name = bytes(value).decode("utf-8", "replace")  # type: ignore[arg-type]
        elif number == _TENSOR_RAW and wire == _BYTES:
            raw = value
    if raw is None:
        return None
    count = 1
    for dim in dims:
        count *= dim
    size = {FLOAT: 4}.get(data_type)
    if size is not None and count * size != len(raw):
        raise FormatError(f"tensor {name!r} has {len(raw)} bytes for dims {dims}")
    return Tensor(name, tuple(dims), data_type, raw)  # type: ignore[arg-type]
