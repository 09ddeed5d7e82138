import copy

import onnx
import torch

from nlpcompress.export.deploy import ort_predictor
from nlpcompress.methods.prune import deploy_structured
from nlpcompress.prune.structured import remove_heads, remove_neurons


def test_structured_onnx_is_fused_and_matches_torch(tiny_bert, tiny_batch, tmp_path):
    model = remove_neurons(
        remove_heads(copy.deepcopy(tiny_bert), [[0, 2], [1, 3]]), [list(range(32))] * 2
    )
    deployed = deploy_structured(model, "onnxruntime", tmp_path)
    ops = {n.op_type for n in onnx.load(str(deployed.path)).graph.node}
    assert "Attention" in ops  # ORT's fused attention kernel runs the pruned heads
    # residual + LayerNorm stay unfused: ORT's SkipLayerNormalization kernel is the slower one
    assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops
    batch = {**tiny_batch, "token_type_ids": torch.zeros_like(tiny_batch["input_ids"])}
    with torch.no_grad():
        ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(ort_predictor(deployed.path, 1)(batch), ref, atol=1e-4, rtol=1e-4)
    assert deploy_structured(model, "torch", tmp_path).module is model


def test_ort_sessions_do_not_fuse_skip_layer_norm_back(tiny_bert, tmp_path):
    """ORT's own SkipLayerNormFusion would undo the export's choice at load time."""
    from nlpcompress.export.ort_session import open_session

    deployed = deploy_structured(copy.deepcopy(tiny_bert), "onnxruntime", tmp_path)
    runtime_graph = tmp_path / "runtime.onnx"
    open_session(deployed.path, 1, optimized_path=runtime_graph)
    ops = {n.op_type for n in onnx.load(str(runtime_graph)).graph.node}
    assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops
