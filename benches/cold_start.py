"""Cold start: each command's whole wall time as a fresh process, as a user runs it once.

Commands (defaults: the shipped models, one photo and one style from ../shared/data):
  --help      ``stylize --help`` (no torch: the floor of every command)
  adain       ``stylize adain`` on one 512 px photo
  fast        ``stylize fast`` on the same photo (shipped starry-night)
  gan-sample  ``stylize gan-sample -n 64 --grid`` (shipped Fashion-MNIST generator)
  eval        ``stylize eval`` on the adain output, content and style given
beside ``python -c "import torch"`` for scale. Each command runs once to warm the page cache and
the weights cache (a bundled VGG is derived on first use), then --repeat times; the table gives the
median and every run. Outputs are deleted before each run, so no run is skipped as already done.

    flock /tmp/stylize-bench.lock .venv/bin/python benches/cold_start.py [--repeat 3] [--only gan-sample,eval]
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (one level further up from a worktree under wt/)
DATA = next((p / "shared" / "data" for p in ROOT.parents[:2] if (p / "shared" / "data").is_dir()), Path("data"))
CONTENT = DATA / "content" / "astronaut.png"  # 512 x 512
STYLE = DATA / "style" / "great_wave.jpg"
LABELS = {
    "--help": "`stylize --help`",
    "adain": "`stylize adain` one 512 px photo",
    "fast": "`stylize fast` one 512 px photo",
    "gan-sample": "`stylize gan-sample -n 64 --grid`",
    "eval": "`stylize eval` one output",
}


def stylize_command() -> list[str]:
    """The console script beside this Python, else the same app through ``python -m``."""
    script = shutil.which("stylize", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from stylize.cli.app import main; main()"]


def commands(work: Path, content: Path, style: Path) -> dict[str, list[str]]:
    """Name -> the arguments after ``stylize``; adain's output is eval's input."""
    return {
        "--help": ["--help"],
        "adain": ["adain", str(content), "-s", str(style), "--size", "512", "-o", str(work / "adain.png")],
        "fast": ["fast", str(content), "--size", "512", "-o", str(work / "fast.png")],
        "gan-sample": ["gan-sample", "-n", "64", "--grid", "-o", str(work / "grid.png")],
        "eval": ["eval", str(work / "eval-input.png"), "-c", str(content), "-s", str(style)],
    }


def timed(args: list[str], env: dict[str, str], work: Path) -> float:
    """Seconds of one fresh process, after deleting the outputs a previous run left."""
    for name in ("adain.png", "fast.png", "grid.png"):
        (work / name).unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    has = [f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model}, {os.cpu_count()} CPUs, {' '.join(has) or 'no AVX-512'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--content", type=Path, default=CONTENT)
    parser.add_argument("--style", type=Path, default=STYLE)
    parser.add_argument("--only", default="", help="comma-separated command names (default: all)")
    args = parser.parse_args()
    stylize = stylize_command()
    env = {**os.environ, "STYLIZE_OFFLINE": "1"}
    print(
        f"# benches/cold_start.py, {time.strftime('%Y-%m-%d %H:%M')}: {cpu_name()}; "
        f"load average {os.getloadavg()[0]:.2f}; median of {args.repeat} fresh processes\n"
    )
    print("| command (fresh process) | median s | runs s |")
    print("|---|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = commands(work, args.content, args.style)
        subprocess.run([*stylize, *table["adain"]], check=True, capture_output=True, env=env)
        shutil.copy(work / "adain.png", work / "eval-input.png")
        rows = {"`python -c 'import torch'`": [sys.executable, "-c", "import torch"]}
        wanted = set(filter(None, args.only.split(","))) or set(table)
        rows.update({LABELS[name]: [*stylize, *argv] for name, argv in table.items() if name in wanted})
        for label, argv in rows.items():
            timed(argv, env, work)  # warm: page cache, derived weights
            runs = [timed(argv, env, work) for _ in range(args.repeat)]
            print(f"| {label} | {statistics.median(runs):.2f} | {' '.join(f'{t:.2f}' for t in runs)} |", flush=True)


if __name__ == "__main__":
    main()
