"""The forms deploy=auto chooses among: each built, each predicting what the model predicts."""

from __future__ import annotations

import torch
from torch.ao.nn.quantized import dynamic as dynamic_quantized

from nlpcompress.export import candidates as candidates_module
from nlpcompress.export.candidates import candidate_forms
from nlpcompress.export.deploy import OnnxDeployable, TorchDeployable, default_deploy, predictor_of
from nlpcompress.quant.modules import has_quantized_weights
from tests.tiny_bert import make_tiny_bert

ALL = ["torch", "torch_int8", "onnxruntime", "onnxruntime_int8", "openvino"]


def _batch():
    ids = torch.randint(5, 50, (4, 12), generator=torch.Generator().manual_seed(1))
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
    }


def test_every_candidate_is_built_and_close_to_the_model(tmp_path):
    model = make_tiny_bert(hidden=64, ffn=128)
    forms = candidate_forms(
        lambda backend, folder: default_deploy(model, backend, folder), ALL, tmp_path
    )
    assert list(forms) == ALL
    assert isinstance(forms["torch"], TorchDeployable) and forms["torch"].module is model
    assert any(
        isinstance(m, dynamic_quantized.Linear) for m in forms["torch_int8"].module.modules()
    )
    assert isinstance(forms["onnxruntime"], OnnxDeployable)
    assert forms["onnxruntime_int8"].path.name == "model_int8.onnx"
    # OpenVINO runs the ORT form's fused fp32 file itself (no second export)
    assert forms["openvino"].backend == "openvino"
    assert forms["openvino"].path == forms["onnxruntime"].path
    # int8 weights: the ORT int8 file is well under the fp32 graph's bytes
    assert forms["onnxruntime_int8"].file_bytes < 0.6 * forms["onnxruntime"].file_bytes
    batch = _batch()
    with torch.no_grad():
        ref = model(**batch).logits
        for name, form in forms.items():
            predict = predictor_of(form, threads=1)
            logits = (
                predict(batch)
                if not isinstance(predict, torch.nn.Module)
                else predict(**batch).logits
            )
            tol = 1e-4 if "int8" not in name else 0.05
            torch.testing.assert_close(logits, ref, atol=tol, rtol=tol, msg=name)
    assert not has_quantized_weights(model)
    assert has_quantized_weights(forms["torch_int8"].module)


def test_a_quantized_model_gets_no_second_int8_rounding(tmp_path):
    model = make_tiny_bert()
    forms = candidate_forms(
        lambda backend, folder: default_deploy(model, backend, folder),
        ALL,
        tmp_path,
        requantize=False,
    )
    assert list(forms) == ["torch", "onnxruntime"]  # openvino runs an fp32 graph: skipped too


def test_openvino_is_skipped_with_a_line_when_not_installed(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(candidates_module, "openvino_installed", lambda: False)
    model = make_tiny_bert()
    with caplog.at_level("INFO"):
        forms = candidate_forms(
            lambda backend, folder: default_deploy(model, backend, folder),
            ["torch", "openvino"],
            tmp_path,
        )
    assert list(forms) == ["torch"]
    assert "skipping openvino, not installed (pip install -e .[openvino])" in caplog.text


def test_forms_rebuilt_from_the_torch_form_accept_its_pruned_vocabulary(tmp_path):
    model = make_tiny_bert()

    def deploy(backend, folder):
        form = default_deploy(model, backend, folder)
        form.vocab_size = 77  # as vocabulary pruning's deploy says
        return form

    forms = candidate_forms(deploy, ALL, tmp_path)
    assert {name: form.vocab_size for name, form in forms.items()} == dict.fromkeys(ALL, 77)
