"""`python -m streamclip` is the `streamclip` command."""

import sys

from streamclip.cli import main

sys.exit(main())
