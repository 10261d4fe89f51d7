"""Domain detectors for battery-cell test channels: per-cycle features, ageing trends, live-stream checks."""
