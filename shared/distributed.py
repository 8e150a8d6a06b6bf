"""torchrun support: the same ``run.py`` under ``torchrun --nproc_per_node N`` trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPU). Every rank runs the runner; rank 0 alone writes
files, the others compute their share and exchange results through these helpers. Without torchrun
(no ``WORLD_SIZE``), everything here is a no-op for one process."""
from __future__ import annotations

import atexit
import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the process group started by torchrun (once); pin each rank to its GPU."""
    if world_size() == 1:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    atexit.register(_leave)


def _leave() -> None:
    """Leave the process group before the interpreter exits: a group torn down by the interpreter's own clean-up
    can abort the process ("terminate called without an active exception") after its work is done."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast(obj):
    """Rank 0's ``obj`` on every rank."""
    if world_size() == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if world_size() == 1:
        return [obj]
    import torch.distributed as dist

    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist

        dist.barrier()
