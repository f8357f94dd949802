"""The batch engine every stylizing command uses: inputs -> jobs -> load / process / save.

    inputs = collect_inputs(["photos/", "extra.jpg"])           # files, folders, "-" (stdin)
    jobs = plan_jobs(inputs, ["starry"], options)               # output paths, collisions, shard
    report = run_batch(jobs, backend, options, reporter, inputs=inputs)

``run_batch`` decodes and encodes in ``options.io_workers`` background threads while the main
thread runs the model, keeps at most :func:`max_in_memory` images decoded at once, skips outputs
that exist, writes every output atomically, isolates failures, and on Ctrl-C stops cleanly with
:class:`BatchInterrupted` (exit 130) carrying the partial report.

Backends get the :class:`BatchOptions` when they are built: ``load`` reads ``max_pixels``
(see :func:`load_picture`) and ``save`` reads ``quality`` (see :func:`save_result_image`).
No typer or rich here: progress goes through a ``Reporter``, problems are ``StylizeError``s.

The modules, each importing only the ones below it (``lint-imports`` keeps it so):
``pipeline`` (the ``BatchBackend`` seam, ``run_batch``) beside ``outcomes`` (skip or refuse
existing outputs, isolate failures, stop on Ctrl-C: for images and videos alike) -> ``report``
(``BatchReport``, failures) -> ``plan`` (jobs, output names, checks, shards) -> ``naming`` (the
``{variant}`` of a name: the style and the non-default settings) -> ``options`` (``BatchOptions``)
and ``inputs``.
"""

from stylize.batch.inputs import InputItem, InputSet, SharedPictures, collect_inputs, shared_picture
from stylize.batch.naming import Variant, run_variant
from stylize.batch.options import (
    DEFAULT_NAME,
    DEFAULT_OUTPUT_DIR,
    PLACEHOLDERS,
    BatchOptions,
    check_ray_address,
    check_shard,
    check_template,
    parse_shard,
    resolve_shard,
)
from stylize.batch.outcomes import (
    BATCH_FATAL,
    IMAGE_OUTPUTS,
    Outcomes,
    OutputKind,
    new_report,
    skip_existing,
    written_meanwhile,
)
from stylize.batch.pipeline import (
    TASK,
    BatchBackend,
    VideoBackend,
    load_picture,
    max_in_memory,
    run_batch,
    save_result_image,
)
from stylize.batch.plan import Job, Signer, check_writable, output_path, plan_jobs, render_name, select_shard
from stylize.batch.report import BatchInterrupted, BatchReport, Failure, failure_reason

__all__ = [
    "BATCH_FATAL",
    "DEFAULT_NAME",
    "DEFAULT_OUTPUT_DIR",
    "IMAGE_OUTPUTS",
    "PLACEHOLDERS",
    "TASK",
    "BatchBackend",
    "BatchInterrupted",
    "BatchOptions",
    "BatchReport",
    "Failure",
    "InputItem",
    "InputSet",
    "Job",
    "Outcomes",
    "OutputKind",
    "SharedPictures",
    "Signer",
    "Variant",
    "VideoBackend",
    "check_ray_address",
    "check_shard",
    "check_template",
    "check_writable",
    "collect_inputs",
    "failure_reason",
    "load_picture",
    "max_in_memory",
    "new_report",
    "output_path",
    "parse_shard",
    "plan_jobs",
    "render_name",
    "resolve_shard",
    "run_batch",
    "run_variant",
    "save_result_image",
    "select_shard",
    "shared_picture",
    "skip_existing",
    "written_meanwhile",
]
