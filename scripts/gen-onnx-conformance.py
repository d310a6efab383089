#!/usr/bin/python3
"""Generates ONNX's own backend conformance data (models + inputs + expected outputs) into OUT_DIR.

Uses Debian's python3-onnx (1.12), whose generator still uses NumPy aliases that current NumPy removed
(np.float, np.int, np.bool, np.object); they are restored before the generator runs.

    /usr/bin/python3 scripts/gen-onnx-conformance.py OUT_DIR     # writes OUT_DIR/node/..., OUT_DIR/simple/...
"""
import sys

import numpy as np

for alias, real in (("float", float), ("int", int), ("bool", bool), ("object", object)):
    if alias not in np.__dict__:
        setattr(np, alias, real)

from onnx.backend.test.cmd_tools import main  # noqa: E402

if len(sys.argv) != 2:
    sys.exit(__doc__)
sys.argv = [sys.argv[0], "generate-data", "-o", sys.argv[1]]
main()
