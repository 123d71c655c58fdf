#!/usr/bin/env python
"""`python tools/weights.py --help`: the same as the console script `videoabnn-weights` (videoabnn/cli/weights.py).

Runs from a clone without installing: the repository root is put on the import path.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoabnn.cli.weights import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
