"""Pruning: masks, schedules, movement scores, structured removal and sparse storage.

Everything here is plain torch; :mod:`nlpcompress.methods.prune` (with
:mod:`nlpcompress.methods.prune_module`, the Lightning module) wires it into training.
"""
