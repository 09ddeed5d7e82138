"""Compression methods: the table in :mod:`nlpcompress.methods.registry` names each one, its
config schema (:mod:`nlpcompress.methods.configs`) and its implementation module here."""
