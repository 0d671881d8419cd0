"""The explorer's page: HTML with the CSS and a plain (non-module) script inlined.

The CSS and script live beside this module as package data (``static/explorer.css`` and
``static/explorer.js``) and are read with :mod:`importlib.resources` when a page is built.
Everything is inlined into ``index.html`` as a classic ``<script>`` (not a module), so the
explorer opens from file:// with no server. :mod:`medembed.workflow.codeversion` hashes the files
in ``static/`` together with this module, so an edit to them reruns the explorers.

The script draws every point with WebGL (one ``drawArrays`` of n points; a Canvas 2D
fallback where WebGL is missing), finds the point under the cursor through a uniform grid
index, and shows thumbnails as crops of the sprite sheets. ``window.explorer`` exposes
its state for tests (``renderedPoints``, ``screenOf(i)``, ``pin(i)``, ...).
"""

from __future__ import annotations

import functools
import html
from importlib import resources

#: The files this module inlines, relative to its directory. :mod:`medembed.workflow.codeversion`
#: reads this literal and hashes them with this module (keep it a literal tuple).
PACKAGE_DATA = ("static/explorer.css", "static/explorer.js")


@functools.cache
def static_text(name: str) -> str:
    """Text of ``static/<name>``, one of :data:`PACKAGE_DATA`, read as package data."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


BODY = """
<header>
  <h1 id="title"></h1>
  <label>Map <select id="map"></select></label>
  <label>Colour <select id="color"></select></label>
  <label>Show <select id="filter"></select></label>
  <label id="search-box" hidden title="colour and rank the images by their similarity to a phrase (the encoder's text tower; phrases embedded in advance)">Search <input id="search" type="search" list="phrases" placeholder="a phrase, e.g. pleural effusion" autocomplete="off" spellcheck="false"><datalist id="phrases"></datalist></label>
  <label id="names-box" hidden title="cluster names at each cluster's medoid (the colouring clustering)"><input type="checkbox" id="names" checked> names</label>
  <span class="modes"><button data-mode="pan" class="on" title="drag to pan, wheel to zoom (P)">Pan</button><button data-mode="box" title="drag a box to select (B)">Box</button><button data-mode="lasso" title="draw around points to select (L)">Lasso</button></span>
  <button id="reset" title="fit the whole map">Reset view</button>
  <span id="status">loading…</span>
</header>
<main>
  <div id="plot" class="pan"><canvas id="gl"></canvas><canvas id="overlay"></canvas><div id="hover" class="card"></div></div>
  <aside>
    <div id="search-panel" hidden><h2>Search</h2><div id="search-title"></div><div id="search-results"></div></div>
    <h2>Colour</h2><div id="legend"></div>
    <h2>Pinned</h2><div id="pinned"></div>
    <h2>Selection</h2>
    <div id="sel-count" class="small"></div>
    <div style="margin:4px 0"><button id="export" disabled>Export CSV</button> <button id="clear" disabled>Clear</button></div>
    <div id="sel-list"></div>
    <p class="small">Hover a point to see its image; click to pin it. Wheel zooms, drag pans;
    Box (B) and Lasso (L) select, shift adds, Esc clears.</p>
  </aside>
</main>
"""


def render_page(title: str) -> str:
    """``index.html``: loads ``data.js`` beside it with a classic script tag (works from file://)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"
        f"<style>\n{static_text('explorer.css')}</style>\n</head>\n<body>{BODY}"
        "<script>window.MEDEMBED_T0 = performance.now();</script>\n"
        "<script src=\"data.js\"></script>\n"
        f"<script>\n{static_text('explorer.js')}</script>\n</body>\n</html>\n"
    )
