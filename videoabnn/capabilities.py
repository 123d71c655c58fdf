"""What an attack or a model can do beyond the base contract, declared by its class and checked here only.

A class lists its capabilities in a ``capabilities`` class attribute; code asks :func:`supports` instead of
probing for methods with ``hasattr``, so a capability is one name a reader can search for.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Capability(str, Enum):
    """One optional ability, with the method(s) a class declaring it must define."""

    FIT = "fit"                  # attack: ``fit(loader, ...)`` learns one pattern for a data set (universal attacks)
    PHYSICAL = "physical"        # attack: ``physical_views(x, y, dist)`` scores a printable pattern under changes
    GRAY_BOX = "gray_box"        # model: ``gray_box()`` the attacker's view with the substitute's gradient cut
    ATTACK_VIEW = "attack_view"  # model: ``attack_view(bpda, eot, seed)`` a differentiable view (BPDA / EOT)
    STATISTICS = "statistics"    # model: ``substitute_statistics(x)``, ``forward_with_statistics(x, stats)`` (ABNN)


def capabilities_of(obj: Any) -> frozenset[Capability]:
    """The capabilities a class (or the class of an instance) declares; none when it declares nothing."""
    cls = obj if isinstance(obj, type) else type(obj)
    return frozenset(getattr(cls, "capabilities", frozenset()))


def supports(obj: Any, capability: Capability) -> bool:
    """Whether ``obj`` (a class or an instance) declares ``capability``."""
    return capability in capabilities_of(obj)
