"""Accuracy, size, speed and resources: one module every method is measured by."""
