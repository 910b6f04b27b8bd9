"""``python -m gradstep`` is the ``gradstep`` command."""

import sys

from .cli import main

sys.exit(main())
