"""KIP Sense: sensor monitoring for an industrial park."""

__version__ = "0.1.0"
