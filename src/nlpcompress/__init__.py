"""nlpcompress: config-driven compression experiments for NLP models.

Kept import-light on purpose: the ONNX Runtime timing worker imports this package
in a fresh process and must not pull torch in.
"""

__version__ = "0.1.0"
