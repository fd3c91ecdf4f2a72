"""``python -m jaxnn.cli``: the ``jaxnn`` command."""

import sys

from jaxnn.cli import main

sys.exit(main())
