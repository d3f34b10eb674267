"""Lets the tests import ``teamcal_hello`` from this checkout when it is not installed (as in
teamcal's own test run); once installed (``pip install -e .``) the installed package is used."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("teamcal_hello") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
