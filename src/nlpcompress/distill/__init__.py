"""Knowledge distillation: losses, layer maps, students and the teacher-output cache.

Plain torch (no Lightning): the maths is :mod:`losses`, :mod:`layer_map`, :mod:`objective`;
the Lightning wiring is :mod:`nlpcompress.methods.distill_module` and the method
:mod:`nlpcompress.methods.distill`.
"""
