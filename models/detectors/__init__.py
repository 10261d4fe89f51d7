"""Detectors sharing one protocol: fit on normal data, higher score = more anomalous, ``threshold_`` decides."""
