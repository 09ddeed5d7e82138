"""On-disk stored forms (safetensors payload + JSON metadata) and deployable runtimes."""
