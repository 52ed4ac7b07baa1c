"""Shared by both suites: makes the helpers next to this file (e.g. ``_parallel``) importable."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
