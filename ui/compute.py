"""Moved to ``service.compute``; kept as an alias for code written against the old name."""

from service.compute import *  # noqa: F403
from service.compute import __all__  # noqa: F401
