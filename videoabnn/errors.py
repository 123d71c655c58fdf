"""The one base class of the errors a user causes (a leaf module: no imports).

Each such error keeps its own class in its own module (``ConfigError`` in :mod:`videoabnn.config`,
``CheckpointError`` in :mod:`videoabnn.models.weights`, ...) and derives from :class:`UserError` as well
as from its old base (``class EvaluationError(UserError, ValueError)``), so ``except ValueError`` callers
still catch it. The command lines (:mod:`videoabnn.cli.common`) recognise user errors by this class alone.
"""

FILE_ERRORS = (FileNotFoundError, FileExistsError)
"""The built-in errors that are user errors too: a path the user gave that is missing, or already taken."""


class UserError(Exception):
    """An error the user can fix (a bad config value, a missing file, wrong data): the command line prints
    it as one ``error:`` line (exit 2) naming the key or file, the value and what was expected; internal
    errors keep their traceback."""
