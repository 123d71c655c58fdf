"""What every command line shares: overrides anywhere on the line, ``--threads``, ``--debug``, and
user errors as one ``error:`` line (exit 2) while internal errors keep their traceback."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence

from videoabnn.config import is_override
from videoabnn.errors import FILE_ERRORS, UserError

USAGE_EXIT = 2


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (a config value, a path, a checkpoint, a video), not a bug: every
    :class:`~videoabnn.errors.UserError`, and the built-in file errors (:data:`~videoabnn.errors.FILE_ERRORS`)."""
    return (UserError, *FILE_ERRORS)


def split_overrides(argv: Sequence[str], parser: argparse.ArgumentParser) -> tuple[list[str], list[str]]:
    """(the other words, the ``dotted.key=value`` overrides), wherever the overrides stand on the line.

    A word right after an option that takes exactly one value is that option's value, and the words
    after an option whose values are themselves ``NAME=VALUE`` pairs (``--checkpoints a=x b=y``) are
    its values up to the next option; every other ``key=value`` word is a config override.
    """
    single, pairs = set(), set()
    for action in parser._actions:
        if not action.option_strings or isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            continue
        if action.nargs is None:
            single.update(action.option_strings)
        elif "=" in str(action.metavar or ""):
            pairs.update(action.option_strings)
    rest, overrides, previous, in_pairs = [], [], None, False
    for word in argv:
        if word.startswith("-"):
            in_pairs = word in pairs
        if previous in single or in_pairs or not is_override(word):
            rest.append(word)
        else:
            overrides.append(word)
        previous = word
    return rest, overrides


# ---- argument types: a bad value is one ``<prog>: error: argument --x: VALUE: expected ...`` line (exit 2)
# at parse time, before any work starts


def _bounds(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"an integer in {lo}..{hi}"
    if lo is not None:
        return f"an integer >= {lo}"
    return f"an integer <= {hi}" if hi is not None else "an integer"


def int_in(lo: int | None = None, hi: int | None = None, *, even: bool = False,
           note: str = "") -> Callable[[str], int]:
    """An argparse type: an integer in ``lo..hi`` (either bound optional; ``even``: even numbers only)."""
    expected = _bounds(lo, hi).replace("an integer", "an even integer" if even else "an integer")
    expected += f" ({note})" if note else ""

    def parse_int(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi) or (even and value % 2):
            raise argparse.ArgumentTypeError(f"{text}: expected {expected}")
        return value

    return parse_int


def threads_value(text: str) -> int | str:
    """An argparse type for ``--threads``: ``auto`` or an integer >= 1."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected auto or an integer >= 1 (CPU threads)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected auto or an integer >= 1 (CPU threads)")
    return value


def existing_file(what: str = "a file") -> Callable[[str], str]:
    """An argparse type: the path of an existing file (not a folder)."""
    from pathlib import Path

    def parse_file(text: str) -> str:
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a folder, expected {what}")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"{text}: no such file, expected {what}")
        return text

    return parse_file


def existing_dir(what: str = "a folder") -> Callable[[str], str]:
    """An argparse type: the path of an existing folder."""
    from pathlib import Path

    def parse_dir(text: str) -> str:
        path = Path(text)
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a file, expected {what}")
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: no such folder, expected {what}")
        return text

    return parse_dir


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a folder to write into (it, or an existing path above it, is a file), else None."""
    from pathlib import Path

    path = Path(path)
    for above in (path, *path.parents):
        if above.exists():
            if above.is_dir():
                return None
            where = "is a file" if above == path else f"{above} is a file"
            return f"{where}, expected a folder (or a path to create one at)"
    return None


def output_dir(text: str) -> str:
    """An argparse type: a folder to write into: an existing folder, or a path where one can be created."""
    problem = folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return text


def check_work_dir(cfg) -> None:
    """The config's ``work_dir`` (default ``work_dirs/<name>``) can be a folder: a ConfigError now, not an
    OSError once the tool writes its first file."""
    from videoabnn.config import ConfigError

    work_dir = cfg.get("work_dir") or f"work_dirs/{cfg.get('name')}"
    problem = folder_problem(str(work_dir))
    if problem:
        raise ConfigError(f"work_dir: {work_dir}: {problem}")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--threads`` and ``--debug`` (and the help line for overrides)."""
    parser.add_argument("--threads", default=None, type=threads_value, metavar="N|auto",
                        help="CPU threads for torch and the decoders (config key `threads`; default auto: the idle "
                             "cores, never more than the physical ones)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    parser.epilog = ((parser.epilog or "") + "\nConfig overrides: dotted.key=value anywhere on the line "
                     "(e.g. train.lr=0.01 data.root=/data/ucf101); values are YAML.").strip()


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the line; ``args.overrides`` holds the overrides, ``--threads`` becomes one more override."""
    add_common_options(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, overrides = split_overrides(argv, parser)
    args = parser.parse_intermixed_args(rest)
    if args.threads is not None:
        overrides.append(f"threads={args.threads}")
    args.overrides = overrides
    return args


def run_tool(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a tool's body with logging on the console; a user error prints ``error: ...`` and exits 2."""
    from videoabnn.utils.logs import setup_console

    setup_console()
    try:
        return body(args)
    except Exception as err:
        if getattr(args, "debug", False) or not is_user_error(err):
            raise
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return USAGE_EXIT


# torch re-raises a DataLoader worker's exception as "Caught <Type> in DataLoader worker process N.\n
# Original Traceback ...": as that type when it takes one message argument, else as a RuntimeError
_WORKER = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.\s*\nOriginal Traceback")


def worker_error(err: BaseException) -> tuple[str, str] | None:
    """(exception type name, its own message) of an exception a DataLoader worker raised, else None."""
    match = _WORKER.match(str(err))
    if match is None:
        return None
    name, text = match.group(1), str(err)
    heads = list(re.finditer(rf"^(?:[\w.]+\.)?{re.escape(name)}: ", text, flags=re.MULTILINE))
    return name, (text[heads[-1].end():].strip() if heads else name)  # the traceback's last line(s)


def _subclass_names(classes: tuple[type[BaseException], ...]) -> set[str]:
    names, todo = set(), list(classes)
    while todo:
        cls = todo.pop()
        if cls.__name__ not in names:
            names.add(cls.__name__)
            todo.extend(cls.__subclasses__())
    return names


def is_user_error(err: BaseException) -> bool:
    """Bad input (see :func:`user_errors`), also when a DataLoader worker raised it."""
    if isinstance(err, user_errors()):
        return True
    found = worker_error(err)
    return found is not None and found[0] in _subclass_names(user_errors())


def _one_line(err: BaseException) -> str:
    found = worker_error(err)
    if found is not None:
        return " ".join(found[1].split())
    text = str(err).strip() or type(err).__name__
    if isinstance(err, FileNotFoundError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return " ".join(text.split("\n"))


def apply_config_threads(cfg) -> int:
    """Apply the config's ``threads`` setting (torch and decoders)."""
    from videoabnn.utils.threads import apply_threads

    return apply_threads(cfg.get("threads", "auto"))
