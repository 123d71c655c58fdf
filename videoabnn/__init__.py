"""videoabnn: adversarial robustness for video action recognition.

One path through the package: data (decode -> clips NCTHW in [0, 1]) -> models (normalize ->
stages -> head; ABNN composes a frozen substitute with a target) -> attacks (pixel space) ->
engine (train / evaluate) -> report.
"""

__version__ = "0.2.0"
