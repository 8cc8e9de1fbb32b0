"""The PHP array a JSON object decodes to with ``assoc``: kept apart, never compiled.

A subclass of ``dict`` so that handlers read it as any mapping; it exists
only so that ``json_encode`` can tell a PHP array (a list when its keys are
``"0"``..``"n-1"`` in order) from an object (``dict``, PHP's ``stdClass``).
mypyc compiles no subclass of a built-in type, so it lives in a module of
its own that the compiled build leaves interpreted.
"""

from __future__ import annotations

from typing import Any


class PhpArray(dict[str, Any]):
    """A PHP associative array with JSON's string keys, in PHP's order.

    ``json_encode`` writes it as a JSON array when its keys are ``"0"``,
    ``"1"``, ... in order (an empty one is ``[]``), as PHP writes an array
    whose keys form a list, and as an object otherwise.
    """

    __slots__ = ()
