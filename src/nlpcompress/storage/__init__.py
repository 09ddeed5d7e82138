"""On-disk cache entries: manifests of file digests, verified on read, written atomically."""
