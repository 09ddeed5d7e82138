"""Labelled text for sequence classification: sources, validation, tokenization cache."""
