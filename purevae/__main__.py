"""``python -m purevae ...``: the command line (see ``purevae.cli``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
