"""``python -m pigeonhole``, as run by the installed launcher and ``briefcase dev``: the app."""

import sys

from desktop.__main__ import main

sys.exit(main())
