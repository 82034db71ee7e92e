"""The one way bokehpipe opens a torch file: `torch.load(weights_only=True)` (`load_checkpoint` for its own files).

Why one function: torch's own error for a file holding pickled objects ends with advice to retry with
`weights_only=False`, which would run code from the file. Repeating that to a user is a security bug, so no
caller ever shows torch's message: the error says the file is not a plain checkpoint and what to do instead.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from bokehpipe.errors import BokehpipeError


def load_weights_only(path: str | os.PathLike[str], *, what: str, fix: str, map_location: Any = "cpu",
                      mmap: bool = False) -> Any:
    """Tensors and plain containers only; any failure is one line naming the file, `what` it should be, `fix`.
    `mmap` maps the tensors instead of reading them (to look at a large file's metadata cheaply)."""
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch's own warnings about foreign pickles: our one line says it all
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise BokehpipeError(f"{path}: {what} not found; {fix}") from None
    except IsADirectoryError:
        raise BokehpipeError(f"{path}: is a folder, not a {what} file; {fix}") from None
    except pickle.UnpicklingError:  # damaged, or objects other than tensors: never unpickled
        raise BokehpipeError(f"{path}: not a plain checkpoint (it does not load as tensors only, and bokehpipe "
                             f"never unpickles other objects because they can run code); {fix}") from None
    except Exception as exc:  # noqa: BLE001 - truncated zip, not a torch file, bad storage: all the same to a user
        raise BokehpipeError(f"{path}: not a readable {what} (a damaged or non-PyTorch file, "
                             f"{type(exc).__name__}); {fix}") from None


def load_checkpoint(path: str | os.PathLike[str], *, format: str, what: str, fix: str,
                    map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint bokehpipe wrote: `load_weights_only`, then a dict whose "format" is `format` (the one
    place a PyNET run, a BokehNet run or the shipped BokehNet weights are read back)."""
    ck = load_weights_only(path, what=what, fix=fix, map_location=map_location)
    if not isinstance(ck, dict) or ck.get("format") != format:
        found = ck.get("format") if isinstance(ck, dict) else None
        raise BokehpipeError(f"{path}: not a {what} (format {found!r}, expected {format}); {fix}")
    return ck
