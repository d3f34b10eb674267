"""Lets the tests import ``teamcal_hello`` from this checkout when it is not installed (as in
teamcal's own test run); once installed (``pip install -e .``) the installed package is used.

The module is loaded from its file, not by putting this folder on ``sys.path``: a build
leaves ``teamcal_hello.egg-info`` here, which would make every test in the session see
the plugin as installed.
"""

import importlib.util
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "teamcal_hello"

if "teamcal_hello" not in sys.modules and importlib.util.find_spec("teamcal_hello") is None:
    spec = importlib.util.spec_from_file_location(
        "teamcal_hello", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["teamcal_hello"] = module
    spec.loader.exec_module(module)
