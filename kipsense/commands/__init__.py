"""Subcommands contributed by each area, each module exposing ``register(subparsers)``.

A module's ``register`` adds its parsers with ``set_defaults(func=handler)``; a handler takes the parsed
arguments and returns the exit code. Heavy imports belong inside handlers so ``kipsense --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

#: Modules of this package that contribute subcommands.
MODULES: tuple[str, ...] = (
    "field",
    "models",
    "simulate",
    "ops",
    "cells",
    "cell_analysis",
    "conflicts",
    "notify",
    "deploy",
)


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
