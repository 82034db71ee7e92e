"""The real f/16 -> f/N pairs under the realdata folder (BOKEHPIPE_REALDATA) and the VABD aperture-control table.

Pairs: VABD scenes 0001-0003 (Canon, 50 mm) shot at f/16 (input) and at f/1.8, f/2.8 and f/8, and the three
EBB! train ids with disparity (2977-2979, f/16 -> f/1.8). Disparity is a Depth-Anything-V2 estimate, min-max
normalised per image exactly as `infer --depth DIR` does (`data.disparity.normalise_map`).

`aperture_table(render_fn, root)` scores any renderer (a callable `(rgb, disparity, focus, aperture) -> rgb`)
rendered at each VABD f-number against each real target: the diagonal of each scene's 3x3 PSNR table should
win (rendering at f/2.8 matches the f/2.8 photo best). The classical `scatter` and the learned renderer use
the same function, so their tables compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bokehpipe.report.photos import load_photo

RenderFn = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]
"""(rgb (H, W, 3), disparity (H, W), focus disparity, internal aperture) -> rendered rgb (H, W, 3)."""

VABD_F_NUMBERS: dict[float, str] = {1.8: "1_8", 2.8: "2_8", 8.0: "8"}
VABD_SCENES = ("0001", "0002", "0003")
EBB_IDS = ("2977", "2978", "2979")


@dataclass(frozen=True)
class RealPair:
    """One real f/16 input and its target at f/`f_number`; `scene` groups pairs that share an input."""

    scene: str
    f_number: float
    input: Path
    target: Path
    depth: Path

    @property
    def name(self) -> str:
        return f"{self.scene}@f/{self.f_number:g}"


def real_pairs(root: str | Path | None = None, *, vabd: bool = True, ebb: bool = True) -> list[RealPair]:
    """Every real pair present under `root` (default: BOKEHPIPE_REALDATA); missing files are skipped, so a partial
    copy still works."""
    from bokehpipe.experiments import require_realdata

    root = Path(root) if root is not None else require_realdata()
    out: list[RealPair] = []
    if vabd:
        v = root / "vabd"
        for scene in VABD_SCENES:
            for n, folder in VABD_F_NUMBERS.items():
                pair = RealPair(f"vabd/{scene}", n, v / "input" / f"{scene}.jpg", v / folder / f"{scene}.jpg",
                                v / "depth" / f"{scene}.png")
                if pair.input.is_file() and pair.target.is_file() and pair.depth.is_file():
                    out.append(pair)
    if ebb:
        e = root / "ebb" / "Training"
        for id_ in EBB_IDS:
            pair = RealPair(f"ebb/{id_}", 1.8, e / "original" / f"{id_}.jpg", e / "bokeh" / f"{id_}.jpg",
                            e / "depth" / f"{id_}.png")
            if pair.input.is_file() and pair.target.is_file() and pair.depth.is_file():
                out.append(pair)
    return out


def load_pair(pair: RealPair, width: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input rgb, target rgb, disparity) as float32, optionally shrunk (area) to `width` keeping the aspect; the
    target is brought to the input's size in one resize.

    The internal aperture is resolution-free (the CoC scales with width), so a fit at 768 px holds at 1536.
    """
    from bokehpipe.data.io import read_image, resize

    rgb, disp = load_photo(pair.input, pair.depth, width)
    target = read_image(pair.target)
    if target.shape != rgb.shape:
        target = resize(target, (rgb.shape[1], rgb.shape[0]))
    return rgb, target, disp


def psnr(pred: np.ndarray, target: np.ndarray, *, align: bool = False) -> float:
    """Full-image PSNR (data range 1) of the clipped prediction; `align` forgives exposure first (oracle gain,
    `metrics.protocol.fit_color_gain`: EBB!/VABD targets are brighter than their inputs)."""
    from bokehpipe.metrics.protocol import apply_color_gain, fit_color_gain

    pred = np.clip(pred, 0.0, 1.0)
    if align:
        pred = apply_color_gain(pred, fit_color_gain(pred, target))
    mse = float(np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2))
    return float(10.0 * np.log10(1.0 / max(mse, 1e-12)))


def scatter_fn(method: str = "scatter") -> RenderFn:
    """The classical renderer as a RenderFn."""
    from bokehpipe.render import render

    def fn(rgb: np.ndarray, disp: np.ndarray, focus: float, aperture: float) -> np.ndarray:
        return render(rgb, disp, method, focus=focus, aperture=aperture)

    return fn


def aperture_table(render_fn: RenderFn, root: str | Path | None = None, *, width: int | None = 768,
                   f_numbers: Sequence[float] = tuple(VABD_F_NUMBERS), align: bool = False,
                   aperture_for: Callable[[float], float] | None = None) -> list[dict[str, object]]:
    """For each VABD scene: render at each f-number (auto-focus, calibrated aperture) and score (PSNR) against
    each real target. Rows: {scene, render_f, target_f, psnr}; `format_aperture_table` prints them."""
    from bokehpipe.render.calibration import aperture_for_f_number
    from bokehpipe.render.focus import choose_focus

    aperture_for = aperture_for or aperture_for_f_number
    pairs = [p for p in real_pairs(root, ebb=False) if p.f_number in f_numbers]
    rows: list[dict[str, object]] = []
    for scene in dict.fromkeys(p.scene for p in pairs):
        mine = {p.f_number: p for p in pairs if p.scene == scene}
        if set(mine) != set(f_numbers):
            continue
        loaded = {n: load_pair(p, width) for n, p in mine.items()}
        rgb, _, disp = loaded[f_numbers[0]]
        focus = choose_focus(rgb, disp).disparity
        for n in f_numbers:
            out = render_fn(rgb, disp, focus, aperture_for(n))
            for m in f_numbers:
                rows.append({"scene": scene, "render_f": n, "target_f": m,
                             "psnr": round(psnr(out, loaded[m][1], align=align), 3)})
    return rows


def format_aperture_table(rows: list[dict[str, object]]) -> str:
    """One 3x3 block per scene (rows: rendered at; columns: real target), the best render per target starred."""
    lines: list[str] = []
    wins = total = 0
    for scene in dict.fromkeys(r["scene"] for r in rows):
        mine = [r for r in rows if r["scene"] == scene]
        fs = list(dict.fromkeys(r["render_f"] for r in mine))
        table = {(r["render_f"], r["target_f"]): float(r["psnr"]) for r in mine}
        lines.append(f"{scene}: PSNR dB, rows = rendered at, columns = real target")
        lines.append("render \\ target " + "".join(f"{'f/' + format(m, 'g'):>10}" for m in fs))
        best = {m: max(fs, key=lambda n, m=m: table[(n, m)]) for m in fs}
        for n in fs:
            cells = "".join(f"{table[(n, m)]:>9.2f}{'*' if best[m] == n else ' '}" for m in fs)
            lines.append(f"{'f/' + format(n, 'g'):<15}{cells}")
        wins += sum(best[m] == m for m in fs)
        total += len(fs)
    lines.append(f"diagonal wins (the render at the target's own f-number scores best): {wins}/{total}")
    return "\n".join(lines)


CLASSICAL = ("identity", "gaussian", "scatter")
SCORE_KEYS = ("psnr", "ssim", "ms_ssim", "psnr_crop32", "ssim_crop32")
ALIGNED_KEYS = ("psnr", "ssim")


def classical_fns(names: Sequence[str] = CLASSICAL) -> dict[str, RenderFn]:
    """identity and the classical renderers as RenderFns (the baselines of every real-pair table)."""
    fns: dict[str, RenderFn] = {}
    for name in names:
        fns[name] = (lambda rgb, disp, focus, aperture: rgb) if name == "identity" else scatter_fn(name)
    return fns


def score_real_pairs(methods: dict[str, RenderFn], root: str | Path | None = None, *, f_number: float = 1.8,
                     width: int | None = None, align: bool = False) -> list[dict[str, object]]:
    """Every real pair shot at `f_number` (EBB! train ids, VABD), each method at auto-focus and the calibrated
    aperture, scored with the project's protocol (`metrics.protocol.score_pair`). One row per pair and method;
    `align` adds `<metric>_aligned` keys (scores after the oracle colour gain) beside the raw ones."""
    from bokehpipe.metrics.protocol import score_pair
    from bokehpipe.render.calibration import aperture_for_f_number
    from bokehpipe.render.focus import choose_focus

    aperture = aperture_for_f_number(f_number)
    rows: list[dict[str, object]] = []
    for pair in (p for p in real_pairs(root) if p.f_number == f_number):
        rgb, target, disp = load_pair(pair, width)
        focus = choose_focus(rgb, disp)
        for name, fn in methods.items():
            out = np.clip(fn(rgb, disp, focus.disparity, aperture), 0.0, 1.0).astype(np.float32)
            scores = score_pair(out, target)
            row = {"pair": pair.name, "method": name, "focus": round(focus.disparity, 4),
                   "aperture": round(aperture, 4), **{k: round(scores[k], 4) for k in SCORE_KEYS if k in scores}}
            if align:
                aligned = score_pair(out, target, align=True)
                row.update({f"{k}_aligned": round(aligned[k], 4) for k in ALIGNED_KEYS if k in aligned})
            rows.append(row)
    return rows


def format_scores(rows: list[dict[str, object]]) -> str:
    """Per-pair rows, then the mean over the EBB! pairs, the VABD pairs and all of them, per method."""
    keys = [k for k in (*SCORE_KEYS, *(f"{a}_aligned" for a in ALIGNED_KEYS)) if any(k in r for r in rows)]
    head = f"{'pair':<16}{'method':<10}{'focus':>7}" + "".join(f"{k:>14}" for k in keys)
    lines = [head]
    for r in rows:
        lines.append(f"{r['pair']:<16}{r['method']:<10}{r['focus']:>7.3f}" + "".join(f"{r[k]:>14.4f}" for k in keys))
    for group, prefix in (("EBB! mean", "ebb/"), ("VABD mean", "vabd/"), ("all mean", "")):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = [r for r in rows if r["method"] == method and str(r["pair"]).startswith(prefix)]
            if mine:
                lines.append(f"{group:<16}{method:<10}{len(mine):>7}" +
                             "".join(f"{np.mean([float(r[k]) for r in mine]):>14.4f}" for k in keys))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python studies/realpairs.py",
                                     description="identity / gaussian / scatter on the real pairs at auto-focus "
                                                 "and the calibrated f/1.8, and the VABD aperture-control table")
    parser.add_argument("--root", type=Path, default=None, help="realdata folder (default: $BOKEHPIPE_REALDATA)")
    parser.add_argument("--width", type=int, default=None, help="score on copies this wide (default: full size)")
    parser.add_argument("--align", action="store_true", help="also score after a per-image colour gain (oracle)")
    parser.add_argument("--table-width", type=int, default=768, help="width for the VABD table (default 768)")
    parser.add_argument("--no-table", action="store_true", help="skip the VABD 3x3 aperture table")
    args = parser.parse_args(argv)
    print(format_scores(score_real_pairs(classical_fns(), args.root, width=args.width, align=args.align)), flush=True)
    if not args.no_table:
        for align in (False, True) if args.align else (False,):
            print(f"\nVABD aperture control (scatter, auto-focus, calibrated f-numbers, {args.table_width} px wide"
                  f"{', colour-aligned' if align else ''})", flush=True)
            print(format_aperture_table(aperture_table(scatter_fn(), args.root, width=args.table_width, align=align)))


if __name__ == "__main__":
    main()
