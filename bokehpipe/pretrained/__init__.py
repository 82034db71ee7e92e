"""Weights shipped inside the package (data, no code): `bokehnet.pt`, the default renderer's (fp16)."""

from pathlib import Path

BOKEHNET_WEIGHTS = Path(__file__).resolve().parent / "bokehnet.pt"
