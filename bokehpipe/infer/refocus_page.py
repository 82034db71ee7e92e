"""The refocus gallery's `index.html`: one card per photo, inline CSS and JavaScript, no external URL.

Its input is one `Stack` per photo (planes, click grid, auto-focus, files, command; decided and rendered by
`bokehpipe.infer.refocus`), written as one JSON block the script reads; images are linked by relative paths
into each photo's subfolder (`refocus.stack_file`), so the folder opens from `file://`. Controls: click the
photo to focus there; the slider steps through the f-numbers (f/16 is the photo as shot); hold the "original"
button (or tick "show original") to compare. Under the photo: the command that renders the shown setting at
full size, with the photo's own pixel coordinates.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bokehpipe.physics import F_NUMBER_INPUT
from bokehpipe.render.calibration import DEFAULT_F_NUMBER

ORIGINAL = "original.jpg"
MARKER = "bokehpipe refocus"
"""The page's <meta name="generator">: an index.html without it is someone else's page and is not replaced."""


@dataclass(frozen=True)
class Stack:
    """What the page needs of one photo: sizes, planes, the click grid, the auto-focus and its files."""

    name: str
    folder: str
    width: int
    height: int
    preview: tuple[int, int]
    planes: list[float]
    auto_plane: int
    auto: dict[str, Any]
    grid: str
    grid_shape: tuple[int, int]
    f_numbers: list[float]
    command: str
    files: list[list[str]] = field(default_factory=list)
    """files[k][i]: the image shown at f_numbers[k] and plane i (`shared_renders`; the original at f/16)."""
    bytes: int = 0


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#111;color:#ddd}
h1{font-weight:500;font-size:1.3rem} h2{font-size:1rem;font-weight:500;margin:.2rem 0 .5rem 0}
.photo{margin:0 0 2.5rem 0;max-width:1000px}
.view{position:relative;display:inline-block;line-height:0;max-width:100%;cursor:crosshair;user-select:none}
.view img{max-width:100%;height:auto;display:block}
.mark{position:absolute;width:14px;height:14px;margin:-8px 0 0 -8px;border:2px solid #fff;border-radius:50%;
 box-shadow:0 0 2px #000;pointer-events:none}
.controls{display:flex;gap:1rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
.controls input[type=range]{width:260px} .fnum{min-width:3.5em;display:inline-block;font-variant-numeric:tabular-nums}
button{background:#333;color:#ddd;border:1px solid #555;border-radius:4px;padding:.3rem .7rem;cursor:pointer}
button:active{background:#555}
.meta{font-size:.8rem;color:#999;margin-top:.3rem}
.cmd{display:block;background:#000;color:#9f9;padding:.5rem;margin:.3rem 0;white-space:pre-wrap;
 overflow-wrap:anywhere;user-select:all;font-size:.8rem}
"""

_JS = """
(() => {
const DATA = JSON.parse(document.getElementById('refocus-data').textContent);
const INPUT_F = DATA.input_f;
for (const card of document.querySelectorAll('.photo')) {
  const p = DATA.photos[+card.dataset.index];
  const img = card.querySelector('.view img'), mark = card.querySelector('.mark');
  const range = card.querySelector('input.aperture'), fnum = card.querySelector('.fnum');
  const why = card.querySelector('.why'), cmd = card.querySelector('.cmd');
  const hold = card.querySelector('button.hold'), toggle = card.querySelector('input.toggle');
  const st = {plane: p.auto_plane, point: null, fi: p.start, held: false};
  const f = () => p.f_numbers[st.fi], fname = () => p.f_names[st.fi];
  const original = () => st.held || toggle.checked || f() >= INPUT_F;
  const file = () => p.folder + '/' + (original() ? DATA.original : p.files[st.fi][st.plane]);
  function show() {
    const src = file();
    if (img.getAttribute('src') !== src) img.setAttribute('src', src);
    const [x, y] = st.point || [p.auto.x, p.auto.y];
    mark.style.left = (100 * (x + 0.5) / p.width) + '%';
    mark.style.top = (100 * (y + 0.5) / p.height) + '%';
    Object.assign(card.dataset, {plane: st.plane, f: fname(), src: src, original: original()});
    fnum.textContent = 'f/' + fname();
    const plane = 'preview plane ' + (st.plane + 1) + ' of ' + p.planes.length + ' (disparity ' +
                  p.planes[st.plane].toFixed(3) + ')';
    why.textContent = (st.point ? 'focus: the point (' + x + ', ' + y + '), ' :
                       'auto-focus: ' + p.auto.reason + ', ') + plane +
                      (original() ? '; showing the original (f/' + DATA.input_f_name + ', as shot)' : '');
    const focus = st.point ? ' --focus-at ' + x + ',' + y : '';
    cmd.textContent = f() >= INPUT_F ? '# f/' + fname() + ' is the photo as shot: no blur to add' :
                      p.command + focus + ' --aperture f/' + fname();
  }
  img.addEventListener('click', (e) => {
    const r = img.getBoundingClientRect();
    const u = Math.min(Math.max((e.clientX - r.left) / r.width, 0), 0.999999);
    const v = Math.min(Math.max((e.clientY - r.top) / r.height, 0), 0.999999);
    st.point = [Math.floor(u * p.width), Math.floor(v * p.height)];
    st.plane = parseInt(p.grid[Math.floor(v * p.rows) * p.cols + Math.floor(u * p.cols)], 36);
    show();
  });
  range.addEventListener('input', () => { st.fi = +range.value; show(); });
  const press = (on) => (e) => { if (e.cancelable && on) e.preventDefault(); st.held = on; show(); };
  hold.addEventListener('pointerdown', press(true));
  for (const ev of ['pointerup', 'pointerleave', 'pointercancel', 'blur']) hold.addEventListener(ev, press(false));
  hold.addEventListener('keydown', (e) => { if (e.key === ' ' || e.key === 'Enter') press(true)(e); });
  hold.addEventListener('keyup', press(false));
  toggle.addEventListener('change', show);
  card.querySelector('button.copy').addEventListener('click', () => {
    const text = cmd.textContent;
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text); return; }
    const sel = window.getSelection(), range_ = document.createRange();
    range_.selectNodeContents(cmd); sel.removeAllRanges(); sel.addRange(range_); document.execCommand('copy');
  });
  show();
}
})();
"""


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB"


def _card(i: int, s: Stack, quality: int) -> tuple[str, int]:
    n = len(s.f_numbers)
    start = min(range(n), key=lambda k: abs(s.f_numbers[k] - DEFAULT_F_NUMBER))
    rendered = sum(1 for f in s.f_numbers if f < F_NUMBER_INPUT)
    count = len({name for row in s.files for name in row} | {ORIGINAL})
    ticks = "".join(f'<option value="{k}" label="f/{f:g}"></option>' for k, f in enumerate(s.f_numbers))
    name = html.escape(s.name)
    return f"""<div class="photo" data-index="{i}">
<h2>{name} <span class="meta">{s.width}x{s.height}</span></h2>
<div class="view"><img src="{html.escape(s.folder)}/{ORIGINAL}" width="{s.preview[0]}" height="{s.preview[1]}"
 alt="{name}, refocused"><span class="mark"></span></div>
<div class="controls">
<label>aperture <input class="aperture" type="range" min="0" max="{n - 1}" step="1" value="{start}"
 list="stops-{i}" aria-label="aperture of {name}"> <span class="fnum"></span></label>
<datalist id="stops-{i}">{ticks}</datalist>
<button class="hold" type="button">hold: original</button>
<label><input class="toggle" type="checkbox"> show original</label>
</div>
<div class="meta why"></div>
<code class="cmd"></code><button class="copy" type="button">copy command</button>
<div class="meta size">{_kb(s.bytes)} in {count} files for this photo: {len(s.planes)} focus planes x {rendered}
 f-numbers at {s.preview[0]}x{s.preview[1]} (JPEG quality {quality}; planes that look alike at an f-number share one
 render) and the original.</div>
</div>""", start


def page_html(stacks: Sequence[Stack], *, title: str, quality: int) -> str:
    """The whole page for `stacks` (their files already written and measured)."""
    cards, photos = [], []
    for i, s in enumerate(stacks):
        card, start = _card(i, s, quality)
        cards.append(card)
        photos.append({"folder": s.folder, "width": s.width, "height": s.height, "planes": s.planes,
                       "auto_plane": s.auto_plane, "auto": s.auto, "grid": s.grid, "rows": s.grid_shape[0],
                       "cols": s.grid_shape[1], "files": s.files, "f_numbers": s.f_numbers,
                       "f_names": [f"{f:g}" for f in s.f_numbers],
                       "start": start, "command": s.command})
    data = json.dumps({"photos": photos, "input_f": F_NUMBER_INPUT, "input_f_name": f"{F_NUMBER_INPUT:g}",
                       "original": ORIGINAL}, separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # no "</script>" inside the JSON block
    total = sum(s.bytes for s in stacks)
    body = "\n".join(cards) if cards else "<p>No photos.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="{MARKER}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)} ({len(stacks)} photo{'s' if len(stacks) != 1 else ''}, {_kb(total)})</h1>
<p class="meta">Click a photo to focus there; the slider sets the aperture (f/{F_NUMBER_INPUT:g} is the photo as
shot); hold "original" to compare. Previews are pre-rendered by bokehpipe's renderer at a few focus planes: a click
shows the nearest one. The command under each photo renders the setting shown at full size.</p>
{body}
<script type="application/json" id="refocus-data">{data}</script>
<script>{_JS}</script>
</body></html>
"""
