"""Smoke tests that need CUDA (marked `gpu`, skipped without it): what a researcher's first GPU run meets.
A bf16 level-1 step with the VGG-19 content term, an fp16 step on a depth batch with its GradScaler, and a
two-GPU NCCL step through torchrun. They never run on a CPU-only machine; run `pytest -m gpu` on one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_data import write_toy_dataset

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _batch(channels: int, crop: int, level: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    side = int(crop * 2 ** (2 - level))
    return (torch.rand(2, channels, crop, crop, device="cuda", dtype=dtype),
            torch.rand(2, 3, side, side, device="cuda"))


def test_bf16_level1_step_with_the_content_loss():
    """Level 1 under bf16 autocast with a VGG-19 content term (random VGG weights: the path, not the values)."""
    from bokehpipe.losses import VGGContent, level_loss
    from bokehpipe.models import create_model

    model = create_model("pynet-xs", in_chans=4).cuda().to(memory_format=torch.channels_last)
    vgg = VGGContent().cuda()
    x, y = _batch(4, 64, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss, parts = level_loss(1, model(x.to(memory_format=torch.channels_last), 1), y, vgg=vgg)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and set(parts) == {"l1", "ssim", "content"}


def test_fp16_step_on_a_depth_batch_with_a_grad_scaler():
    from bokehpipe.losses import level_loss
    from bokehpipe.models import create_model

    model = create_model("pynet-xs", in_chans=4).cuda()
    x, y = _batch(4, 64, 3, dtype=torch.float16)
    scaler = torch.amp.GradScaler("cuda")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    with torch.autocast("cuda", dtype=torch.float16):
        loss, _ = level_loss(3, model(x.float(), 3), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert torch.isfinite(loss)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpu_nccl_step_through_torchrun(tmp_path: Path):
    data = write_toy_dataset(tmp_path / "toy", n_train=6, n_val=2, size=(128, 128))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
           "bokehpipe", "--store", str(tmp_path / "store"), "train", "--data", str(data), "--no-depth", "--model",
           "pynet-xs", "--levels", "7..6", "--crop", "64", "--batch", "4", "--steps", "2", "--val-split", "val",
           "--val-every", "2", "--run-name", "nccl", "--device", "cuda", "--precision", "bf16"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "store" / "runs" / "nccl" / "done.json").is_file()
