"""Pruning: masks, schedules, movement scores, structured removal and sparse storage.

Everything here is plain torch; :mod:`nlpcompress.methods.prune` wires it into training.
"""
