"""On-disk forms: cache entries (manifests of file digests, verified on read, written
atomically) and the stored model format (:mod:`format`: safetensors payload + JSON)."""
