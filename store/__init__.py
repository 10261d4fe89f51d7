"""All SQL of the platform lives in this package; everything else calls its typed functions.

Functions take a psycopg connection first and keyword-only arguments after it. They do not commit unless their
name or docstring says so: the caller owns the transaction.
"""
