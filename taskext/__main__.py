"""``python -m taskext``: see :mod:`taskext.cli`."""

import sys

from .cli import main

sys.exit(main())
