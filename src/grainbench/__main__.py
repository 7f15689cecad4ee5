"""``python -m grainbench``."""

import sys

from grainbench.cli import main

sys.exit(main())
