"""The analytics lake: partitioned Parquet derived from the database, and the feature jobs that run on it."""
