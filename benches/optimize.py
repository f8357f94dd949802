"""Gatys optimisation speed, quality per second and memory: ours against a faithful copy of the
widely used single-scale implementation (the PyTorch tutorial / neural-style approach).

Random He-init weights in the published layouts (timing does not depend on weight values).
Prints markdown tables. Sections:
  iteration  seconds per L-BFGS iteration at 256^2 and 512^2, single scale, gram loss, fp32
             (median of --repeat timing runs, reference and ours interleaved), plus bf16
  c2f        the default coarse-to-fine 512^2 run (wall time, final loss at 512^2) against a
             single-scale run given the same wall-clock time; then the same at a --budget
  memory     peak RSS, each in a fresh process: ours at 1024^2 (default schedule, few
             iterations) and the reference at 512^2

    flock /tmp/stylize-bench.lock nice -n 0 .venv/bin/python benches/optimize.py [--repeat 3] [--budget 90]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn, optim

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize import images
from stylize.backends import objective as opt
from stylize.backends import optimize as g
from stylize.config import OptimizeConfig
from stylize.models.loss_net import build_loss_net
from stylize.models.vgg import NormalisedVGG19, TorchvisionVGG19Features

CONTENT = ROOT / "examples" / "content" / "astronaut.jpg"  # 512 x 512
STYLE = ROOT / "examples" / "style" / "mosaic.png"

# ---------------------------------------------------------------- the reference (PyTorch tutorial, neural-style)
# Full torchvision VGG-19 (classifier included, as loaded from the 548 MB file), NCHW fp32,
# non-inplace ReLU, a loss module after each named layer, Gram via mm, torch.optim.LBFGS
# (max_iter=20 per step, no line search), clamping in the closure, model cut after the last loss.

REF_CONTENT = ["relu_10"]  # relu4_2
REF_STYLE = ["relu_1", "relu_3", "relu_5", "relu_9", "relu_13"]  # relu1_1 .. relu5_1


class RefNormalization(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return (img - self.mean) / self.std


class RefContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.target = target.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(x, self.target)
        return x


def ref_gram(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x.size()
    features = x.view(a * b, c * d)
    return torch.mm(features, features.t()).div(a * b * c * d)


class RefStyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor) -> None:
        super().__init__()
        self.target = ref_gram(target_feature).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(ref_gram(x), self.target)
        return x


def ref_model(cnn: nn.Module, content: torch.Tensor, style: torch.Tensor):
    model, content_losses, style_losses, i = nn.Sequential(RefNormalization()), [], [], 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name, layer = f"relu_{i}", nn.ReLU(inplace=False)
        else:
            name = f"pool_{i}"
        model.add_module(name, layer)
        if name in REF_CONTENT:
            loss = RefContentLoss(model(content).detach())
            model.add_module(f"content_loss_{i}", loss)
            content_losses.append(loss)
        if name in REF_STYLE:
            loss = RefStyleLoss(model(style).detach())
            model.add_module(f"style_loss_{i}", loss)
            style_losses.append(loss)
    last = max(j for j, m in enumerate(model) if isinstance(m, (RefContentLoss, RefStyleLoss)))
    return model[: last + 1], style_losses, content_losses


def ref_run(
    model: nn.Module,
    style_losses: list,
    content_losses: list,
    img: torch.Tensor,
    evals: int,
    style_weight: float = 1e6,
    content_weight: float = 1.0,
) -> int:
    """The tutorial's run_style_transfer, stopped after about ``evals`` closure evaluations
    (max_iter=evals instead of 20 per step: the cost of an evaluation does not depend on it)."""
    optimizer = optim.LBFGS([img], max_iter=evals)
    img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    run = [0]
    while run[0] < evals:

        def closure() -> torch.Tensor:
            with torch.no_grad():
                img.clamp_(0, 1)
            optimizer.zero_grad()
            model(img)
            style_score = sum(sl.loss for sl in style_losses) * style_weight
            content_score = sum(cl.loss for cl in content_losses) * content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            return loss

        optimizer.step(closure)
    return run[0]


def ref_cnn(features_state: dict) -> nn.Module:
    """The tutorial's ``vgg19(weights=...).features.eval()``: the whole model is built, then cut."""
    import torchvision

    full = torchvision.models.vgg19()
    full.features.load_state_dict({k.removeprefix("features."): v for k, v in features_state.items()})
    return full.features.eval()


# ---------------------------------------------------------------- helpers


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def load() -> str:
    return (
        "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f"; torch threads {torch.get_num_threads()}"
    )


def he(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def states() -> dict[str, dict]:
    torch.manual_seed(0)
    return {
        "torchvision": he(TorchvisionVGG19Features()).state_dict(),
        "normalised": he(NormalisedVGG19()).state_dict(),
    }


def pictures(side: int) -> tuple[Image.Image, Image.Image]:
    content = images.resize_long_side(Image.open(CONTENT).convert("RGB"), side)
    return content, Image.open(STYLE).convert("RGB")


def ours_setup(state: dict, side: int, precision: str = "fp32", **cfg: object) -> tuple[opt.Objective, torch.Tensor]:
    """Single-scale objective at ``side`` and the content image to start from."""
    config = OptimizeConfig(size=side, scales=1, precision=precision, **cfg)  # type: ignore[arg-type]
    net = build_loss_net(state, [*config.content_layers, *config.style_layers], config.pooling, torch.device("cpu"))
    model = g.OptimizeModel(net, config, torch.device("cpu"))
    content, style = pictures(side)
    x = images.to_tensor(content)
    targets = opt.Targets(model.content_targets(x), model.style_targets([g.StyleImage(style)], side, x))
    return opt.Objective(net, targets, config, model.precision), x


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- sections


def section_iteration(sts: dict[str, dict], repeat: int) -> None:
    print("\n### Seconds per iteration, single scale, Gram loss (median of", repeat, "runs)\n")
    print(f"_{load()}_\n")
    print(
        "| size | reference (tutorial, torchvision VGG) | ours, torchvision VGG | ours, normalised VGG (default) "
        "| ours, normalised, bf16 autocast | ours / reference |"
    )
    print("|---|---|---|---|---|---|")
    for side, evals in ((256, 6), (512, 3)):
        content, style = pictures(side)
        c, s = (
            images.to_tensor(content).contiguous(),
            images.to_tensor(images.resize_long_side(style, side)).contiguous(),
        )
        model, sl, cl = ref_model(ref_cnn(sts["torchvision"]), c, s)
        ours = {
            name: ours_setup(sts[net], side, prec)
            for name, net, prec in (
                ("tv", "torchvision", "fp32"),
                ("norm", "normalised", "fp32"),
                ("bf16", "normalised", "bf16"),
            )
        }
        times: dict[str, list[float]] = {"ref": [], **{k: [] for k in ours}}
        for _ in range(repeat + 1):  # the first round warms up and is dropped
            img = c.clone()
            start = time.perf_counter()
            n = ref_run(model, sl, cl, img, evals)
            times["ref"].append((time.perf_counter() - start) / n)
            for name, (objective, x) in ours.items():
                times[name].append(timed(lambda o=objective, x=x, n=evals: opt.run_lbfgs(o, x, n, 100, _noop)) / evals)
        med = {k: statistics.median(v[1:]) for k, v in times.items()}
        print(
            f"| {side}² | {med['ref']:.3f} | {med['tv']:.3f} | {med['norm']:.3f} | {med['bf16']:.3f} "
            f"| {med['tv'] / med['ref']:.2f} (torchvision), {med['norm'] / med['ref']:.2f} (normalised) |",
            flush=True,
        )


def _noop(*_: object) -> None:
    pass


def final_loss(
    model: g.OptimizeModel, image: torch.Tensor, content: Image.Image, style: Image.Image
) -> dict[str, float]:
    """The objective at the final size, the same definition for every run, of the image a user gets (clamped)."""
    image = image.clamp(0, 1)
    x = images.to_tensor(content)
    targets = opt.Targets(model.content_targets(x), model.style_targets([g.StyleImage(style)], max(content.size), x))
    with torch.no_grad():
        total, parts = opt.Objective(model.net, targets, model.config, model.precision)(image)
    return {"loss": float(total), **{k: float(v) for k, v in parts.items()}}


def single_scale(
    model: g.OptimizeModel, content: Image.Image, style: Image.Image, seconds: float
) -> tuple[torch.Tensor, int]:
    """Classic single-scale L-BFGS from the content for ``seconds`` of wall clock (targets included)."""
    start = time.monotonic()
    x = images.to_tensor(content)
    targets = opt.Targets(model.content_targets(x), model.style_targets([g.StyleImage(style)], max(content.size), x))
    objective = opt.Objective(model.net, targets, model.config, model.precision)
    count = [0]

    def step(*_: object) -> None:
        count[0] += 1

    return opt.run_lbfgs(objective, x, 100_000, model.config.lbfgs_history, step, deadline=start + seconds), count[0]


def section_c2f(sts: dict[str, dict], budget: float, fixed: int | None = None) -> None:
    print("\n### Coarse to fine against single scale, same wall clock, 512² (normalised VGG, Gram, L-BFGS)\n")
    print("Each single-scale run gets the wall-clock time the coarse-to-fine run above it took.\n")
    print(f"_{load()}_\n")
    print("| run | iterations (final scale / all) | wall s | loss at 512² | content | style | tv |")
    print("|---|---|---|---|---|---|---|")
    content, style = pictures(512)
    net_cfg = OptimizeConfig()
    net = build_loss_net(
        sts["normalised"], [*net_cfg.content_layers, *net_cfg.style_layers], "max", torch.device("cpu")
    )
    default_seconds = 0.0
    plan = (
        [("default", net_cfg.iterations), ("budget", None)]
        if not fixed
        else [("default" if fixed == net_cfg.iterations else "budget", fixed)]
    )
    for label, iterations in plan:
        if iterations is None:  # scale the default run's iterations to the budget
            iterations = max(5, round(net_cfg.iterations * budget / default_seconds))
        cfg = OptimizeConfig(iterations=iterations)
        model = g.OptimizeModel(net, cfg, torch.device("cpu"))
        start = time.monotonic()
        result = model.stylize(content, [g.StyleImage(style)])
        seconds = time.monotonic() - start
        if label == "default":
            default_seconds = seconds
        _row(
            f"coarse to fine ({label}, --iterations {iterations})",
            f"{iterations} / {len(result.history)}",
            seconds,
            final_loss(model, result.image, content, style),
        )
        single = g.OptimizeModel(net, OptimizeConfig(scales=1), torch.device("cpu"))
        start = time.monotonic()
        image, count = single_scale(single, content, style, seconds)
        _row(
            "single scale, same wall clock",
            f"{count} / {count}",
            time.monotonic() - start,
            final_loss(single, image, content, style),
        )


def _row(label: str, its: str, seconds: float, loss: dict[str, float]) -> None:
    print(
        f"| {label} | {its} | {seconds:.1f} | {loss['loss']:.4g} | {loss['content']:.4g} | {loss['style']:.4g} "
        f"| {loss['tv']:.4g} |",
        flush=True,
    )


def section_memory(sts: dict[str, dict]) -> None:
    print("\n### Peak RSS, each in a fresh process\n")
    print(f"_{load()}_\n")
    print("| run | peak RSS | wall s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, state in sts.items():
            torch.save(state, Path(tmp) / f"{name}.pth")
        for label, args in (
            ("ours, default schedule to 1024² (--iterations 2), normalised VGG", ["ours", "1024"]),
            ("reference, 512², 3 iterations", ["ref", "512"]),
        ):
            done = subprocess.run(
                [sys.executable, __file__, "--child", *args, tmp], capture_output=True, text=True, check=True
            )
            info = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"| {label} | {info['rss_mib'] / 1024:.2f} GiB | {info['seconds']:.1f} |", flush=True)


def child(kind: str, side: int, folder: Path) -> None:
    start = time.perf_counter()
    if kind == "ours":
        cfg = OptimizeConfig(size=side, iterations=2, vgg=str(folder / "normalised.pth"))
        net = g.load_loss_net(cfg.vgg, [*cfg.content_layers, *cfg.style_layers], cfg.pooling)
        content, style = pictures(side)
        g.OptimizeModel(net, cfg, torch.device("cpu")).stylize(content.resize((side, side)), [g.StyleImage(style)])
    else:
        content, style = pictures(side)
        c, s = (
            images.to_tensor(content).contiguous(),
            images.to_tensor(images.resize_long_side(style, side)).contiguous(),
        )
        model, sl, cl = ref_model(ref_cnn(torch.load(folder / "torchvision.pth")), c, s)
        ref_run(model, sl, cl, c.clone(), 3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mib": rss, "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=90.0, help="seconds for the equal-time comparison")
    parser.add_argument("--sections", default="iteration,c2f,memory")
    parser.add_argument("--c2f-iterations", type=int, help="skip the default run: compare at this --iterations")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), Path(args.child[2]))
    print(
        f"# benches/optimize.py — {time.strftime('%Y-%m-%d %H:%M')}, torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs; uptime: {uptime()}"
    )
    sts = states()
    sections = args.sections.split(",")
    if "iteration" in sections:
        section_iteration(sts, args.repeat)
    if "c2f" in sections:
        section_c2f(sts, args.budget, args.c2f_iterations)
    if "memory" in sections:
        section_memory(sts)
    print(f"\nuptime at the end: {uptime()}")


if __name__ == "__main__":
    main()
