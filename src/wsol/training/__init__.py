"""Classifier training input: the Lightning data module, torch datasets and transforms."""
