"""The analytics lake: partitioned Parquet derived from the database, and the feature jobs that run on it.

Its floor: above the store (the export reads through ``store.lake``; the job's SQL text is
``store.cell_features``) and the simulators (a simulated fleet can be written straight in); below the command
line. ``models`` does not import it: the models take the job's tables from whichever engine ran it.
"""
