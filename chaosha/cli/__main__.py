"""``python -m chaosha.cli``: the ``chaosha`` command."""

import sys

from chaosha.cli import main

sys.exit(main())
