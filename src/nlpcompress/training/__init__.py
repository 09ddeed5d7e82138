"""Fine-tuning: the Lightning classifier module, trainers, and the cached baseline."""
