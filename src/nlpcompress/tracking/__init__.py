"""MLflow tracking: one MLflow run per nlpcompress run."""
