"""Cell analytics: per-cycle and early-life features, the cycle-life model, and process-driver analysis."""
