"""The paper explained from the code: PyNET's levels for one photo size, and the schedule of pipelines/ebb.toml.

Resolutions come from the model's own `scale(level)` and feature widths from `BASE_MAPS`, so the figure
describes the network this package trains, not a transcription of the paper.
"""

from __future__ import annotations

from typing import Any

from bokehpipe.report import tables

ROLES = {7: "global tone, colour", 6: "coarse layout", 5: "large blur", 4: "blur per region",
         3: "edges, mid detail", 2: "input resolution", 1: "full resolution"}


def pynet_levels(photo: tuple[int, int] = (1536, 1024)) -> list[dict[str, Any]]:
    """Rows for the architecture figure, coarse level 7 first: feature maps and output size of each level
    when the network sees the photo at half resolution (its input), as in the paper."""
    from bokehpipe.models.pynet import BASE_MAPS, PyNETBokeh

    w, h = photo[0] // 2, photo[1] // 2
    rows = []
    for level in (7, 6, 5, 4, 3, 2, 1):
        s = PyNETBokeh.scale(level)
        out = f"{round(w * s)}x{round(h * s)}"
        maps = BASE_MAPS[level - 3] if level >= 3 else None
        features = f"{maps} maps" if maps else ("8 maps" if level == 2 else "3 maps")
        loss = "L1+SSIM+VGG" if level == 1 else "L1"
        rows.append({"level": level, "output": out, "features": features, "role": f"{ROLES[level]}; {loss}",
                     "caption": f"{photo[0]}x{photo[1]} photo -> network input {w}x{h} (RGB + disparity)"})
    return rows


def schedule_table(pipeline: dict[str, Any]) -> tuple[str, int]:
    """The paper's level-wise schedule as the ebb pipeline states it: batch and steps per level."""
    sched = pipeline.get("train", {}).get("schedule", {})
    rows, total = [], 0
    for level in sorted((int(k) for k in sched), reverse=True):
        entry = sched[str(level)]
        total += int(entry["steps"])
        rows.append([str(level), str(entry["batch"]), f"{int(entry['steps']) // 1000}K",
                     "100 L1" if level > 1 else "L1 + VGG + SSIM"])  # level 1's weights: in the text
    header = ["Level", "Batch", "Steps", "Loss"]
    return tables.tabular(header, rows, align="rrrl"), total
