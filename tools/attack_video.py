#!/usr/bin/env python
"""`python tools/attack_video.py --help`: the same as the console script `videoabnn-attack-video`
(videoabnn/cli/attack_video.py).

Runs from a clone without installing: the repository root is put on the import path.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videoabnn.cli.attack_video import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
