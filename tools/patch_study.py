#!/usr/bin/env python
"""`python tools/patch_study.py --help`: the same as the console script `videoabnn-patch-study` (videoabnn/cli/patch_study.py).

Runs from a clone without installing: the repository root is put on the import path.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoabnn.cli.patch_study import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
