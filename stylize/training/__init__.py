"""Reusable training pieces: image folders, endless batches, resumable checkpoints, loss logs,
sample grids, and the DDP / AMP / Ctrl-C plumbing every trainer needs.

    with distributed_session(device_spec) as (dist, device), GracefulStop() as stop:
        data = BatchStream(ImageFolderDataset(root, resize=512, crop=256), 8, device, dist=dist)
        ...
        save_training_checkpoint(files.checkpoint, model.state_dict(), meta, state)

Compute never prints: warnings go through a ``Reporter``; problems are ``StylizeError``s. Under
``torchrun`` every rank trains, and only rank 0 writes files or reports progress.

The toolkit's three modules, imported here so callers say ``from stylize.training import X``:
:mod:`.data` (datasets and batches), :mod:`.dist` (seeds, precision, DDP, stopping), :mod:`.state`
(checkpoints, run files, loss logs, samples). ``dist`` depends on neither of the others. On them:
:mod:`.loop` (the one loop, ``run_training`` and ``TrainResult``), then one module per trainer,
:mod:`.adain`, :mod:`.fast` and :mod:`.gan` (``stylize.api`` imports them lazily).
"""

from stylize.training.data import (
    FLAT_RETRIES,
    MAX_SKIPS,
    BatchStream,
    ImageFolderDataset,
    InfiniteSampler,
    Sample,
    TeacherPairs,
    collate_samples,
    default_workers,
    is_flat,
    list_images,
    pil_to_uint8,
    random_resized_square,
    resize_and_crop,
)
from stylize.training.dist import (
    Distributed,
    GracefulStop,
    all_reduce_mean,
    any_rank,
    barrier,
    detect_distributed,
    distributed_session,
    flush_denormals,
    grad_scaler,
    mix_seed,
    rank_device,
    rank_reporter,
    seed_everything,
    unwrap,
    wrap_ddp,
)
from stylize.training.state import (
    LossLog,
    LossMeter,
    Resumed,
    RunFiles,
    TrainState,
    every,
    load_training_checkpoint,
    save_sample_grid,
    save_training_checkpoint,
    state_path,
    throughput,
)

__all__ = [
    "FLAT_RETRIES",
    "MAX_SKIPS",
    "BatchStream",
    "Distributed",
    "GracefulStop",
    "ImageFolderDataset",
    "InfiniteSampler",
    "LossLog",
    "LossMeter",
    "Resumed",
    "RunFiles",
    "Sample",
    "TeacherPairs",
    "TrainState",
    "all_reduce_mean",
    "any_rank",
    "barrier",
    "collate_samples",
    "default_workers",
    "detect_distributed",
    "distributed_session",
    "every",
    "flush_denormals",
    "grad_scaler",
    "is_flat",
    "list_images",
    "load_training_checkpoint",
    "mix_seed",
    "pil_to_uint8",
    "random_resized_square",
    "rank_device",
    "rank_reporter",
    "resize_and_crop",
    "save_sample_grid",
    "save_training_checkpoint",
    "seed_everything",
    "state_path",
    "throughput",
    "unwrap",
    "wrap_ddp",
]
