"""Where the shared sample corpus lives: `../shared/corpus` beside the repository (as CI lays it
out), or the folder named by CGW_SHARED_DIR."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CGW_SHARED_DIR", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"

if not CORPUS.is_dir():
    raise RuntimeError(f"the shared corpus is not at {CORPUS}: set CGW_SHARED_DIR to the shared/ folder")
