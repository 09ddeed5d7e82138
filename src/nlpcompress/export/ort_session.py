"""The ONNX Runtime CPU session every part of this project opens (timing workers, accuracy
predictors, tests). Imports onnxruntime only, so a fresh timing process stays light."""

from __future__ import annotations

# ONNX Runtime graph rewrites left out of every session this project builds. Its
# SkipLayerNormFusion folds each residual Add + LayerNormalization back into the contrib op
# SkipLayerNormalization, whose CPU kernel (ORT 1.32) was the slowest node of the int8 graph.
# benchmarks/skip_layernorm_speed.py, Sapphire Rapids, 2 threads, 64 tokens, idle: MiniLM-L6 int8
# 3.27 -> 2.61 ms at batch 1 (2.31x -> 3.20x fp32 eager at batch 32); the compact_minilm shape
# (3 layers, 4 heads, FFN 384) 1.15 -> 0.78 ms (9.95x -> 16.85x at batch 32).
DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


def open_session(path, threads: int, spinning: bool = True, optimized_path=None):
    """An ONNX Runtime CPU session on ``threads`` threads, without :data:`DISABLED_OPTIMIZERS`.

    Args:
        spinning: let idle worker threads spin (off where torch runs in the same process).
        optimized_path: where ORT writes the graph it runs after its own rewrites (for tests).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_OPTIMIZERS
    )
