"""OpenVINO's CPU plugin is asked for fp32 arithmetic (it defaults to bf16 on CPUs with bf16)."""

from __future__ import annotations

import pytest

from nlpcompress.export.deploy import export_onnx
from nlpcompress.measure.openvino_worker import compile_model
from tests.tiny_bert import make_tiny_bert


def test_compiled_model_computes_in_fp32(tmp_path):
    ov = pytest.importorskip("openvino")
    path = export_onnx(make_tiny_bert(hidden=64, ffn=128), tmp_path / "m.onnx")
    compiled = compile_model(str(path), 1)
    assert compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
