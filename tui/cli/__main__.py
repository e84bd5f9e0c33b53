"""`python -m tui.cli`: the `dockyard` command."""
import sys

from . import main

sys.exit(main())
