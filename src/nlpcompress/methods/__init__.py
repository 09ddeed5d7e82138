"""Compression methods; each module registers itself (see :mod:`nlpcompress.methods.registry`)."""
