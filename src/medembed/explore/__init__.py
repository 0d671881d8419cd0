"""The interactive explorer and the shared thumbnails (sprite sheets) it and the report use.

Names are imported on first use (see :mod:`medembed._lazy`).
"""

from __future__ import annotations

from .._lazy import attach

_LAZY = {
    "Thumbnails": "._sheets",
    "make_thumbnails": "._thumbs",
    "read_thumbnails": "._sheets",
    "render_tile": "._thumbs",
    "build_explorer": "._build",
    "explorer_data": "._build",
    "read_cards": "._search",
    "categorical_palette": "._palette",
    "score_ramp": "._palette",
    "atomic_dir": "._files",
}

__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
