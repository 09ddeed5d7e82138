"""Model presets: packaged, hub and randomly initialised sequence classifiers."""
