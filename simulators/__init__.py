"""Software stand-ins for the park's hardware, seeded, vectorised, emitting ground truth beside the data."""
