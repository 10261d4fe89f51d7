"""Domain detectors for the dust network (EU limits, episodes, sensor faults)."""
