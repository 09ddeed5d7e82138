"""Knowledge distillation: losses, layer maps, students and the teacher-output cache.

The maths (:mod:`losses`, :mod:`layer_map`, :mod:`objective`) is plain torch; the
Lightning wiring lives in :mod:`module` and the method in :mod:`nlpcompress.methods.distill`.
"""
