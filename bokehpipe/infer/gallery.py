"""The static `index.html` gallery that `bokehpipe infer` writes next to its renders.

One card per photo: the render, a before/after slider over the input, and the depth map used. Plain HTML,
CSS and a few lines of JavaScript, no server and no external URL, so the folder opens from `file://` and
can be zipped and mailed. Images are linked by relative paths (the input photo where a browser can show it,
a JPEG preview otherwise), so moving OUT away from the inputs breaks only the "before" half.

The entries live in `OUT/gallery.json` as well: a later run into the same OUT adds its photos instead of
replacing the page, and entries whose render was deleted drop out.
"""

from __future__ import annotations

import html
import os
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.errors import BokehpipeError
from bokehpipe.store import atomic_write_json, atomic_write_text, read_json

from .files import GALLERY_DATA, GALLERY_NAME


@dataclass(frozen=True)
class Entry:
    """One gallery card; paths are relative to OUT, POSIX style."""

    name: str
    before: str
    render: str
    depth: str | None
    width: int
    height: int
    source: str  # run / checkpoint / method that made the render
    settings: dict[str, Any] = field(default_factory=dict)  # what made it (renderer, depth, focus, aperture)


def relative_link(target: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(Path(target).resolve(), Path(out_dir).resolve())).as_posix()


def load_entries(out_dir: str | os.PathLike[str]) -> list[Entry]:
    """Entries of earlier runs whose render still exists (an unreadable gallery.json is simply rebuilt)."""
    out = Path(out_dir)
    path = out / GALLERY_DATA
    if not path.is_file():
        return []
    try:
        rows = read_json(path).get("entries", [])
        entries = [Entry(**row) for row in rows]
    except (BokehpipeError, TypeError, AttributeError):
        return []
    return [e for e in entries if (out / e.render).is_file()]


def write_gallery(out_dir: str | os.PathLike[str], new: list[Entry], *, title: str = "bokehpipe renders") -> Path:
    """Merge `new` into OUT/gallery.json (same render path: the new entry wins) and rewrite OUT/index.html."""
    out = Path(out_dir)
    merged = {e.render: e for e in load_entries(out)}
    merged.update({e.render: e for e in new})
    entries = sorted(merged.values(), key=lambda e: e.render)
    atomic_write_json(out / GALLERY_DATA, {"entries": [asdict(e) for e in entries]})
    atomic_write_text(out / GALLERY_NAME, render_html(entries, title=title))
    return out / GALLERY_NAME


def _src(rel: str) -> str:
    return html.escape(urllib.parse.quote(rel), quote=True)


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#111;color:#ddd}
h1{font-weight:500;font-size:1.3rem} a{color:#9cf}
.card{margin:0 0 2.5rem 0;max-width:1200px}
.card h2{font-size:1rem;font-weight:500;margin:.2rem 0 .5rem 0}
.row{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}
.ba{position:relative;flex:3 1 600px;line-height:0;user-select:none}
.ba img{width:100%;height:auto;display:block}
.ba img.before{position:absolute;top:0;left:0;clip-path:inset(0 50% 0 0)}
.ba .bar{position:absolute;top:0;bottom:0;left:50%;width:2px;background:#fff8;pointer-events:none}
.ba input{position:absolute;left:0;bottom:8px;width:100%;margin:0;opacity:.8}
.ba .lab{position:absolute;top:6px;padding:2px 6px;background:#0008;line-height:1.3;font-size:.8rem}
.depth{flex:1 1 220px} .depth img{width:100%;height:auto;display:block}
.meta{font-size:.8rem;color:#999;margin-top:.3rem}
"""

_JS = """
for (const ba of document.querySelectorAll('.ba')) {
  const range = ba.querySelector('input'), before = ba.querySelector('img.before'), bar = ba.querySelector('.bar');
  const update = () => { const v = range.value; before.style.clipPath = `inset(0 ${100 - v}% 0 0)`;
                         bar.style.left = v + '%'; };
  range.addEventListener('input', update); update();
}
"""


def render_html(entries: list[Entry], *, title: str = "bokehpipe renders") -> str:
    cards = []
    for e in entries:
        depth = (f'<div class="depth"><a href="{_src(e.depth)}"><img src="{_src(e.depth)}" loading="lazy" '
                 f'alt="depth map of {html.escape(e.name)}"></a><div class="meta">disparity used (near = bright)'
                 '</div></div>') if e.depth else ""
        cards.append(f"""<div class="card">
<h2>{html.escape(e.name)}</h2>
<div class="row">
<div class="ba" style="aspect-ratio:{e.width}/{e.height}">
<img class="after" src="{_src(e.render)}" loading="lazy" alt="render of {html.escape(e.name)}">
<img class="before" src="{_src(e.before)}" loading="lazy" alt="input {html.escape(e.name)}">
<div class="bar"></div><span class="lab" style="left:6px">before</span><span class="lab" style="right:6px">after</span>
<input type="range" min="0" max="100" value="50" aria-label="before/after">
</div>
{depth}
</div>
<div class="meta">{e.width}x{e.height} &middot; {html.escape(e.source)} &middot;
<a href="{_src(e.render)}">render</a> &middot; <a href="{_src(e.before)}">input</a></div>
</div>""")
    body = "\n".join(cards) if cards else "<p>No renders yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)} ({len(entries)} photo{'s' if len(entries) != 1 else ''})</h1>
<p class="meta">Drag the slider: left of it the input, right of it the render. Written by bokehpipe infer.</p>
{body}
<script>{_JS}</script>
</body></html>
"""
