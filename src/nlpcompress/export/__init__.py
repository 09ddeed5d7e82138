"""Writing models out and running them: the dense stored form, the deployable runtimes
(torch, ONNX Runtime) and their quantized variants. The format itself is
:mod:`nlpcompress.storage.format`."""
