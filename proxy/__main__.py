"""``python -m proxy``: the same as the ``strangler`` command."""

import sys

from ._cli import main

sys.exit(main())
