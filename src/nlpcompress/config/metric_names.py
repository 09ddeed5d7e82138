"""The names of the metrics that more than one module writes or reads, defined once.

The runner and the measure layer write them, the CLI prints them at the end of a run, the
MLflow review view shows them and the report reads them; each imports the name from here,
so renaming a metric is one edit (``tests/unit/config/test_metric_names.py`` checks that the
readers use these names). Accuracies are fractions in [0, 1]; drops are percentage points.
"""

from __future__ import annotations

VAL_ACC = "val/acc"
VAL_F1 = "val/f1"
TEST_ACC = "test/acc"
TEST_F1 = "test/f1"
TEST_ACC_DROP = "test/acc_drop_vs_fp32"  # 100 * (fp32 test/acc - test/acc)
VAL_ACC_DROP = "val/acc_drop_vs_fp32"
FP32_PREFIX = "fp32/"  # the baseline's own metrics, e.g. fp32/test/acc
FP32_TEST_ACC = FP32_PREFIX + TEST_ACC

SIZE_BYTES = "size/bytes"  # bytes of the stored files actually written
SIZE_RATIO = "size/ratio_vs_fp32"
SIZE_AVG_BITS = "size/avg_bits"
SPARSITY_ACTUAL = "sparsity/actual"

LATENCY_P50 = "speed/latency_ms_p50"  # batch 1, ms
SPEEDUP = "speed/speedup_vs_fp32"  # fp32 PyTorch eager p50 / this form's p50, side by side
SPEEDUP_SAME_BACKEND = "speed/speedup_vs_fp32_same_backend"
LOAD_AVG = "speed/load_avg_1m"

# What the end of every run prints, in this order.
RUN_SUMMARY = (
    TEST_ACC,
    TEST_F1,
    TEST_ACC_DROP,
    SIZE_BYTES,
    SIZE_RATIO,
    SIZE_AVG_BITS,
    LATENCY_P50,
    SPEEDUP,
    SPEEDUP_SAME_BACKEND,
)
# The metric columns of the MLflow review view, in this order.
REVIEW = (TEST_ACC, TEST_ACC_DROP, SIZE_RATIO, SIZE_BYTES, SPEEDUP, LATENCY_P50)
