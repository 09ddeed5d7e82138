"""Quantization: uniform affine integers, fixed point, binary and ternary weights.

Framework-free maths (:mod:`quantizers`, :mod:`ste`, :mod:`calibration`, :mod:`packing`),
fake-quant modules (:mod:`modules`), per-module policies (:mod:`policy`), the stored form
(:mod:`storage`) and the ``quant`` config section (:mod:`config`). The methods that use it
are wired in :mod:`nlpcompress.methods.quant_workflow`; its deployed forms are
:mod:`nlpcompress.export.quant`.
"""
