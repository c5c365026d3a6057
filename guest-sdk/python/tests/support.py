"""Makes `weir` importable from the source tree, so that the tests run with
plain `python3 -m unittest discover guest-sdk/python/tests` (no install)."""

import os
import sys

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
if SRC not in sys.path:
    sys.path.insert(0, SRC)
