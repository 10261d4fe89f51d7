"""Anomaly detectors, training, evaluation and the streaming scorer."""
