"""Command-line tools (``videoabnn-train``, ``videoabnn-test``, ``videoabnn-study``, ...; also ``tools/*.py``)."""
