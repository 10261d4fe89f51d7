"""The HTTP API and the operator page."""
