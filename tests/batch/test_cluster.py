"""``--ray``: a batch on a Ray runtime (here a local one, 2 CPUs) writes what a plain run writes."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stylize import cluster
from stylize.batch import BatchOptions, InputSet, collect_inputs, plan_jobs
from stylize.cli import app
from stylize.cli.batch_options import ray_argv

ray = pytest.importorskip("ray")
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_runtime() -> Any:
    """One local runtime for the module (starting one takes 10-20 s here); run_on_ray joins it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    yield ray
    ray.shutdown()


@pytest.fixture
def photos(tmp_path: Path, image_factory: Any) -> Path:
    folder = tmp_path / "in"
    for i in range(3):
        image_factory(folder / f"p{i}.png", (72, 48), i)
    return folder


def _fast(*args: str) -> Any:
    return runner.invoke(app, ["--quiet", "fast", "--size", "48", *args])


def test_ray_argv_reads_an_address_only_when_it_is_one() -> None:
    assert ray_argv(["fast", "a.jpg", "--ray"]) == ["fast", "a.jpg", "--ray", "local"]
    assert ray_argv(["fast", "--ray", "photos/", "-o", "x"]) == ["fast", "--ray", "local", "photos/", "-o", "x"]
    assert ray_argv(["fast", "--ray", "auto", "a.jpg"]) == ["fast", "--ray", "auto", "a.jpg"]
    assert ray_argv(["fast", "--ray", "ray://head:10001"])[-1] == "ray://head:10001"
    assert ray_argv(["fast", "--ray", "10.0.0.5:6379"])[-1] == "10.0.0.5:6379"


def test_bad_address_and_missing_ray_are_one_line_usage_errors(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _fast(str(photos), "-o", str(tmp_path / "o"), "--ray", "nowhere")
    assert bad.exit_code == 2 and "not a Ray address" in bad.stderr
    monkeypatch.setattr(cluster, "ray", None)
    missing = _fast(str(photos), "-o", str(tmp_path / "o"), "--ray", "local")
    assert missing.exit_code == 2 and 'pip install "stylize[ray]"' in missing.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.usefixtures("ray_runtime")
class _FakeRay:
    """Just enough of ``ray`` to see which actors ``cluster._actors`` asks for on a given cluster."""

    def __init__(self, resources: dict[str, float]) -> None:
        self.resources, self.asked, self.made = resources, {}, 0

    def cluster_resources(self) -> dict[str, float]:
        return self.resources

    def remote(self, cls: type) -> Any:
        fake = self

        class Handle:
            def options(self, **options: Any) -> Any:
                fake.asked = options
                return self

            def remote(self, *args: Any) -> int:
                fake.made += 1
                return fake.made

        return Handle()


@pytest.mark.parametrize(
    ("resources", "workers", "chunks", "want"),
    [
        ({"CPU": 64, "GPU": 4}, 0, 100, (4, 1, 1)),  # one actor per GPU, each with its GPU and one core
        ({"CPU": 64, "GPU": 4}, 0, 2, (2, 1, 1)),  # never more actors than chunks
        ({"CPU": 16}, 0, 100, (4, 4, 0)),  # CPUs only: actors of 4 cores
        ({"CPU": 16}, 2, 100, (2, 8, 0)),  # --ray-workers 2: the cores split between them
        ({"CPU": 2}, 0, 100, (1, 2, 0)),
    ],
)
def test_actors_are_one_per_gpu_or_cpu_groups(
    monkeypatch: pytest.MonkeyPatch, resources: dict, workers: int, chunks: int, want: tuple
) -> None:
    fake = _FakeRay(resources)
    monkeypatch.setattr(cluster, "ray", fake)
    actors = cluster._actors(workers, lambda: None, BatchOptions(), None, chunks)
    assert (len(actors), fake.asked["num_cpus"], fake.asked["num_gpus"]) == want
    assert fake.asked["max_restarts"] > 0 and fake.asked["max_task_retries"] > 0  # a lost actor is replaced


def test_same_bytes_as_a_plain_run_a_bad_file_isolated_and_a_rerun_skips(photos: Path, tmp_path: Path) -> None:
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    plain = _fast(str(photos), "-o", str(tmp_path / "plain"))
    assert plain.exit_code == 6, plain.output
    result = _fast(str(photos), "-o", str(tmp_path / "ray"), "--ray", "local", "--json")
    assert result.exit_code == 6, result.output  # the broken file, as in the plain run
    report = json.loads(result.stdout)
    assert report["counts"]["done"] == 3 and [Path(f["input"]).name for f in report["failed"]] == ["broken.png"]
    names = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ray").iterdir()) and len(names) == 3
    for name in names:
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    again = _fast(str(photos), "-o", str(tmp_path / "ray"), "--ray", "local", "--json")
    counts = json.loads(again.stdout)["counts"]
    assert counts["skipped"] == 3 and counts["done"] == 0


@pytest.mark.usefixtures("ray_runtime")
def test_file_urls_in_and_out_through_ray_give_a_plain_run_s_bytes(photos: Path, tmp_path: Path) -> None:
    """Each actor opens the store itself (the jobs carry URLs); a rerun skips by the records read back."""
    pytest.importorskip("fsspec")
    plain = _fast(str(photos), "-o", str(tmp_path / "plain"))
    assert plain.exit_code == 0, plain.output
    url_in, url_out = f"file://{photos}/", f"file://{tmp_path}/stored/"
    result = _fast(url_in, "-o", url_out, "--ray", "local", "--json")
    assert result.exit_code == 0, result.output
    outputs = sorted(d["output"] for d in json.loads(result.stdout)["done"])
    names = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert outputs == [url_out + name for name in names] and len(names) == 3
    for name in names:
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "stored" / name).read_bytes()
    again = _fast(url_in, "-o", url_out, "--ray", "local", "--json")
    counts = json.loads(again.stdout)["counts"]
    assert counts["skipped"] == 3 and counts["done"] == 0


class _DiesOnce:
    """A backend whose first model call kills its process (an actor lost mid-chunk), once per marker."""

    def __init__(self, backend: Any, marker: Path) -> None:
        self._backend, self._marker = backend, marker

    def process(self, jobs: Any, loaded: Any) -> Any:
        if not self._marker.exists():
            self._marker.touch()
            os._exit(1)
        return self._backend.process(jobs, loaded)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def _dying(make: Any, marker: Path) -> Any:
    return _DiesOnce(make(), marker)


@pytest.mark.slow  # ~70 s here: a second actor process starts after the first dies
@pytest.mark.usefixtures("ray_runtime")
def test_a_killed_actor_s_chunk_is_retried(photos: Path, tmp_path: Path) -> None:
    from stylize.backends import fast
    from stylize.backends.stylizer import start
    from stylize.config import FastConfig
    from stylize.progress import NullReporter
    from stylize.provenance import JobSignature

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    options = BatchOptions(output=tmp_path / "out", ray="local")
    config = FastConfig(size=48)
    run = fast.plan(config, {})
    inputs = collect_inputs([str(photos)])
    signature = JobSignature("fast", {}, run.weights)
    jobs = plan_jobs(inputs, run.tags, options, [], lambda job: signature.text(job.input.path, []), method="fast")
    make = functools.partial(start, fast, config, run, None, options, NullReporter(), {})
    marker = tmp_path / "died"
    report = cluster.run_on_ray(
        jobs, functools.partial(_dying, make, marker), options, NullReporter(), InputSet(), None
    )
    assert marker.exists()  # the first attempt died
    assert len(report.done) == 3 and not report.failed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(job.output.name for job in jobs)


@pytest.mark.slow
def test_ctrl_c_stops_the_ray_run_with_exit_130(tmp_path: Path, image_factory: Any) -> None:
    for i in range(120):
        image_factory(tmp_path / "in" / f"p{i:03}.png", (240, 160), i)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stylize", "fast", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--ray"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and not list((tmp_path / "o").glob("*.png")):
        time.sleep(0.2)  # the runtime is up and the first chunk written
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert 0 < len(list((tmp_path / "o").glob("*.png"))) < 120
