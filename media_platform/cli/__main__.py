"""``python -m media_platform.cli``: the same as the ``media-platform`` command."""

import sys

from media_platform.cli import main

sys.exit(main())
