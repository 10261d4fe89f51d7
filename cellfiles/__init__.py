"""Cycler files: read the raw files of battery test instruments into normalised samples.

A file-format floor: imports nothing of the platform. ``read(path)`` detects the instrument from the
content and returns ``Samples`` (``normalise``); the readers live in ``text`` (delimited exports) and
``binary`` (Arbin ``.res``, BioLogic ``.mpr``, Neware ``.nda``/``.ndax``).
"""
