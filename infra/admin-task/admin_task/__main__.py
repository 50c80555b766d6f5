"""Entry point for `python -m admin_task`."""

import sys

from admin_task.cli import main

sys.exit(main())
