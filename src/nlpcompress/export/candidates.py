"""The deployable forms ``deploy=auto`` chooses among, built from one model.

* ``torch``: the method's torch form (its own deploy, e.g. the physically smaller model of
  structured pruning or the int8 kernels of int8 QAT; otherwise the model as is);
* ``onnxruntime``: the method's ONNX Runtime form (the fused fp32 graph by default);
* ``torch_int8``: ``torch.ao`` dynamic int8 Linear of the torch form;
* ``onnxruntime_int8``: ORT dynamic QInt8 of the torch form's fused graph;
* ``openvino``: the ``onnxruntime`` form's fp32 file run by OpenVINO's CPU plugin, when the
  ``openvino`` package is installed (``pip install -e .[openvino]``).

The two int8 forms re-quantize the weights, so they are built only for a model whose weights
are not already quantized (a quantized model's own deploy already picks its kernels). The
OpenVINO form runs an fp32 graph, so a quantized model skips it too.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from nlpcompress.export import quant as qdeploy
from nlpcompress.export.deploy import Deployable, OnnxDeployable

log = logging.getLogger(__name__)
DeployFn = Callable[[str, Path], Deployable]


def candidate_forms(
    deploy: DeployFn,
    names: Sequence[str],
    workdir: Path,
    opset: int = 17,
    requantize: bool = True,
) -> dict[str, Deployable]:
    """Build the forms in ``names`` (in that order) under ``workdir/<name>/``.

    Args:
        deploy: ``deploy(backend, workdir)`` of the method (``torch`` or ``onnxruntime``).
        names: a subset of :data:`~nlpcompress.config.schema.DEPLOY_CANDIDATES`.
        workdir: one sub-folder per candidate is written here.
        opset: ONNX opset of the int8 ORT export.
        requantize: whether the int8 forms are allowed (False for quantized models).

    Returns:
        name -> deployable, without the forms the model does not allow (each skip logged).
    """
    forms: dict[str, Deployable] = {}
    torch_form: Deployable | None = None

    def torch_module():
        nonlocal torch_form
        if torch_form is None:
            torch_form = forms.get("torch") or deploy("torch", _folder(workdir, "torch"))
        return torch_form.module

    for name in names:
        folder = _folder(workdir, name)
        if name in ("torch", "onnxruntime"):
            forms[name] = deploy(name, folder)
        elif name == "openvino" and not openvino_installed():
            log.info("deploy=auto: skipping openvino, not installed (pip install -e .[openvino])")
        elif not requantize:
            log.info("deploy=auto: skipping %s, the model's weights are already quantized", name)
        elif name == "torch_int8":
            forms[name] = qdeploy.torch_int8(torch_module())
        elif name == "onnxruntime_int8":
            forms[name] = qdeploy.ort_int8(torch_module(), folder, opset)
        elif name == "openvino":
            # the same file as the ORT form: OpenVINO's ONNX reader takes ORT's fused operators
            ort_form = forms.get("onnxruntime") or deploy("onnxruntime", folder)
            forms[name] = OnnxDeployable(ort_form.path, "openvino", ort_form.vocab_size)
        else:
            raise ValueError(f"unknown deploy candidate {name!r}")
    if torch_form is not None:  # forms rebuilt from the torch form take the ids it accepts
        for form in forms.values():
            form.vocab_size = form.vocab_size or torch_form.vocab_size
    return forms


def openvino_installed() -> bool:
    """Whether the optional ``openvino`` runtime can be imported."""
    return importlib.util.find_spec("openvino") is not None


def _folder(workdir: Path, name: str) -> Path:
    path = Path(workdir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path
