"""`python -m perfbudget` is the `perfbudget` command."""

import sys

from .cli import main

sys.exit(main())
