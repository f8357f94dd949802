"""``stylize fast`` speed, ours against a faithful copy of the common reference implementation.

The reference is pytorch/examples ``fast_neural_style``'s TransformerNet as published: non-inplace
ReLU, ReflectionPad2d + Conv2d, nearest upsampling through F.interpolate, affine InstanceNorm,
NCHW float32. Both nets get the same random weights (timing does not depend on weight values)
and run side by side in the same process, interleaved round by round so background load hits
both alike. Prints markdown tables; medians of --repeat runs. Sections:
  model    one image, network only, at each --sizes: reference vs our variants
  quality  our outputs vs the reference's on the same weights (0-255 scale)
  folder   --images JPEGs of 512^2, images/s end to end (decode, stylize, encode): the reference's
           sequential loop vs ``stylize fast`` with and without background I/O threads
  train    one training iteration at batch 4 x 256^2 (seconds; the batch already in memory):
           pytorch/examples' ``train`` loop (VGG-16 slices, MSE, bmm Gram, Adam) vs our
           ``train-fast`` step with the same VGG-16 layers and with the default normalised VGG-19;
           then our whole ``train-fast`` (DataLoader workers decoding real photos) in iterations/s

    flock /tmp/stylize-bench.lock .venv/bin/python benches/fast.py [--repeat 3] [--sizes 512,1024]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize.models.transformer_net import FastTransformerNet, TransformerNet

GMAC_512 = 40.3  # multiply-adds of one 512^2 image through the reference network

# ---------------------------------------------------------------- the reference (pytorch/examples)


class RefConvLayer(torch.nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reflection_pad(x)
        out = self.conv2d(out)
        return out


class RefResidualBlock(torch.nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = RefConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = RefConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class RefUpsampleConvLayer(torch.nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, upsample: int | None = None
    ) -> None:
        super().__init__()
        self.upsample = upsample
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode="nearest", scale_factor=self.upsample)
        out = self.reflection_pad(x_in)
        out = self.conv2d(out)
        return out


class RefTransformerNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = RefConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = RefConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = RefConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        self.res1 = RefResidualBlock(128)
        self.res2 = RefResidualBlock(128)
        self.res3 = RefResidualBlock(128)
        self.res4 = RefResidualBlock(128)
        self.res5 = RefResidualBlock(128)
        self.deconv1 = RefUpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = RefUpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = RefConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


def ref_stylize_file(net: RefTransformerNet, src: Path, dest: Path) -> None:
    """pytorch/examples ``stylize``: PIL -> ToTensor * 255 -> net -> clamp -> uint8 -> PIL save."""
    img = Image.open(src).convert("RGB")
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().unsqueeze(0)  # ToTensor()*255
    with torch.no_grad():
        out = net(x).cpu()[0]
    arr = out.clone().clamp(0, 255).numpy().transpose(1, 2, 0).astype("uint8")
    Image.fromarray(arr).save(dest)


# ---------------------------------------------------------------- timing


CPU_TIMES: dict[str, float] = {}  # variant -> median process CPU seconds of the last `interleaved` call


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(variants: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall seconds of each variant; one warm-up each, then ``repeat`` rounds over all of them.

    Rounds interleave the variants so background load hits each alike; CPU times go to CPU_TIMES.
    """
    for fn in variants.values():
        fn()
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, fn in variants.items():
            wall, cpu = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    CPU_TIMES.clear()
    CPU_TIMES.update({name: statistics.median(ts) for name, ts in cpus.items()})
    return {name: statistics.median(ts) for name, ts in walls.items()}


def random_nets(seed: int = 0) -> tuple[RefTransformerNet, TransformerNet]:
    torch.manual_seed(seed)
    ours = TransformerNet().eval()
    ref = RefTransformerNet().eval()
    ref.load_state_dict(ours.state_dict())
    return ref, ours


def model_variants(ref: RefTransformerNet, ours: TransformerNet, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """What each row times: the network on one (1, 3, S, S) image, RGB 0-255."""
    ours_cl = TransformerNet().eval().to(memory_format=torch.channels_last)
    ours_cl.load_state_dict(ours.state_dict())
    x_cl = x.contiguous(memory_format=torch.channels_last)
    fast = {
        (dt, cl): FastTransformerNet(ours, dt, cl) for dt in (torch.float32, torch.bfloat16) for cl in (False, True)
    }

    def autocast_bf16() -> object:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ours_cl(x_cl)

    return {
        "reference (pytorch/examples), fp32 NCHW": lambda: ref(x),
        "TransformerNet module, fp32 NCHW (inplace ReLU)": lambda: ours(x),
        "TransformerNet module, fp32 channels_last": lambda: ours_cl(x_cl),
        "TransformerNet module, bf16 autocast + channels_last": autocast_bf16,
        "FastTransformerNet fp32 NCHW": lambda: fast[torch.float32, False](x),
        "FastTransformerNet fp32 channels_last": lambda: fast[torch.float32, True](x),
        "FastTransformerNet bf16 NCHW": lambda: fast[torch.bfloat16, False](x),
        "FastTransformerNet bf16 channels_last (default)": lambda: fast[torch.bfloat16, True](x),
    }


def section_model(sizes: list[int], repeat: int) -> None:
    ref, ours = random_nets()
    for size in sizes:
        x = torch.rand(1, 3, size, size) * 255
        with torch.inference_mode():
            results = interleaved(model_variants(ref, ours, x), repeat)
        base = results["reference (pytorch/examples), fp32 NCHW"]
        gmac = GMAC_512 * (size / 512) ** 2
        print(f"\n### network only, one {size}x{size} image (median of {repeat})\n")
        cpu_base = CPU_TIMES["reference (pytorch/examples), fp32 NCHW"]
        print("| variant | s / image | images / s | GMAC/s | speedup vs reference | CPU s | CPU-time speedup |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, seconds in results.items():
            cpu = CPU_TIMES[name]
            print(
                f"| {name} | {seconds:.3f} | {1 / seconds:.2f} | {gmac / seconds:.0f} | {base / seconds:.2f}x "
                f"| {cpu:.3f} | {cpu_base / cpu:.2f}x |"
            )


def section_quality() -> None:
    ref, ours = random_nets()
    torch.manual_seed(1)
    with torch.no_grad():  # a livelier net than the random init: outputs spread over 0-255
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        ours.deconv3.conv2d.weight.mul_(100)
    ref.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, 512, 512) * 255
    with torch.inference_mode():
        want = ref(x)
        jitter = ref(x + torch.randn_like(x) * 0.5)
        rows = {
            "reference, input + N(0, 0.5) noise": jitter,
            "FastTransformerNet fp32": FastTransformerNet(ours, torch.float32)(x),
            "FastTransformerNet bf16": FastTransformerNet(ours, torch.bfloat16)(x),
        }
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rows["reference under bf16 autocast"] = ref(x).float()
    print(f"\n### output difference from the reference fp32, 512x512 (0-255 scale; output std {want.std():.0f})\n")
    print("| variant | mean abs | max abs |")
    print("|---|---:|---:|")
    for name, out in rows.items():
        diff = (out - want).abs()
        print(f"| {name} | {diff.mean():.4f} | {diff.max():.3f} |")


@contextlib.contextmanager
def folder_of_jpegs(count: int, size: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        for i in range(count):
            img = Image.fromarray(np.roll(base, i, axis=0)).resize((size, size), Image.Resampling.BICUBIC)
            img.save(folder / f"img{i:03d}.jpg", quality=92)
        yield folder


def section_folder(count: int, repeat: int) -> None:
    from stylize.api import fast as run
    from stylize.backends.fast import save_model
    from stylize.batch import BatchOptions
    from stylize.config import FastConfig

    ref, ours = random_nets()
    rows: dict[str, float] = {}
    with folder_of_jpegs(count, 512) as folder:
        model = save_model(folder.parent / "model.safetensors", ours)
        files = sorted(folder.iterdir())

        def reference() -> None:
            out = folder.parent / "ref"
            out.mkdir(exist_ok=True)
            for f in files:
                ref_stylize_file(ref, f, out / f.name)

        def ours_with(workers: int) -> Callable[[], None]:
            def go() -> None:
                options = BatchOptions(output=folder.parent / f"ours{workers}", io_workers=workers, overwrite=True)
                report = run([str(folder)], FastConfig(models=(str(model),)), options, "cpu")
                assert len(report.done) == count, report.failed

            return go

        variants = {
            "reference loop (PIL, fp32 NCHW, sequential)": reference,
            "stylize fast, io_workers=0 (no overlap)": ours_with(0),
            "stylize fast, io_workers=1": ours_with(1),
            "stylize fast, io_workers=2 (default)": ours_with(2),
        }
        rows = interleaved(variants, repeat)
    base = rows["reference loop (PIL, fp32 NCHW, sequential)"]
    print(f"\n### folder of {count} JPEGs, 512x512, end to end (median of {repeat})\n")
    print("| variant | s total | images / s | speedup vs reference |")
    print("|---|---:|---:|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} | {count / seconds:.2f} | {base / seconds:.2f}x |")


# ---------------------------------------------------------------- training (pytorch/examples' train loop)

VGG16_SLICES = ((0, 4), (4, 9), (9, 16), (16, 23))  # relu1_2, relu2_2, relu3_3, relu4_3 as in its vgg.py


def ref_vgg16(state: dict[str, torch.Tensor]) -> torch.nn.ModuleList:
    """pytorch/examples' ``Vgg16``: torchvision's vgg16().features cut into four slices, frozen."""
    from stylize.models.vgg import torchvision_vgg16_modules

    features = torch.nn.Sequential(*torchvision_vgg16_modules())
    features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
    for p in features.parameters():
        p.requires_grad = False
    return torch.nn.ModuleList(torch.nn.Sequential(*list(features)[a:b]) for a, b in VGG16_SLICES)


def ref_features(vgg: torch.nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for part in vgg:
        x = part(x)
        out.append(x)
    return out


def ref_normalize_batch(batch: torch.Tensor) -> torch.Tensor:
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


def ref_gram_matrix(y: torch.Tensor) -> torch.Tensor:
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    return features.bmm(features_t) / (ch * h * w)


def ref_train_step(
    net: RefTransformerNet,
    vgg: torch.nn.ModuleList,
    optimizer: torch.optim.Optimizer,
    gram_style: list[torch.Tensor],
    x: torch.Tensor,
) -> float:
    """One iteration of pytorch/examples ``train`` (content weight 1e5, style weight 1e10)."""
    mse_loss = torch.nn.MSELoss()
    n_batch = len(x)
    optimizer.zero_grad()
    y = net(x)
    y = ref_normalize_batch(y)
    x = ref_normalize_batch(x.clone())
    features_y = ref_features(vgg, y)
    features_x = ref_features(vgg, x)
    content_loss = 1e5 * mse_loss(features_y[1], features_x[1])
    style_loss = 0.0
    for ft_y, gm_s in zip(features_y, gram_style):
        gm_y = ref_gram_matrix(ft_y)
        style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
    total_loss = content_loss + 1e10 * style_loss
    total_loss.backward()
    optimizer.step()
    return float(total_loss.detach())


def _he(net: torch.nn.Module) -> torch.nn.Module:
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return net


class _FixedBatches:
    """Stands in for the trainer's DataLoader stream: the same in-memory batch every time."""

    def __init__(self, batch: torch.Tensor) -> None:
        self.batch = batch

    def __next__(self) -> torch.Tensor:
        return self.batch.clone()

    def close(self) -> None:
        pass


def _training_files(folder: Path) -> dict[str, Path]:
    """Random VGG-16 / normalised VGG-19 files, a style image and 8 photos (256^2 JPEGs)."""
    from stylize.models.vgg import NormalisedVGG19, TorchvisionVGG16Features

    torch.manual_seed(0)
    files = {"vgg16": folder / "vgg16.pth", "vgg19": folder / "vgg_normalised.pth", "style": folder / "style.jpg"}
    torch.save(_he(TorchvisionVGG16Features()).state_dict(), files["vgg16"])
    torch.save(_he(NormalisedVGG19()).state_dict(), files["vgg19"])
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(files["style"])
    photos = folder / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(photos / f"{i}.jpg")
    files["photos"] = photos
    return files


def _our_trainer(files: dict[str, Path], loss_net: str, batch: torch.Tensor, out: Path, precision: str) -> object:
    from stylize.config import FastTrainConfig
    from stylize.progress import NullReporter
    from stylize.training import Distributed, RunFiles
    from stylize.training.fast import FastTrainer

    cfg = FastTrainConfig(
        iterations=10**6,
        batch_size=4,
        image_size=256,
        loss_net=str(files[loss_net]),
        workers=0,
        precision=precision,
        sample_every=0,
        checkpoint_every=0,
    )
    trainer = FastTrainer(
        cfg, files["style"], files["photos"], RunFiles.beside(out), Distributed(), torch.device("cpu"), NullReporter()
    )
    trainer.content.close()
    trainer.content = _FixedBatches(batch)  # type: ignore[assignment]
    return trainer


def section_train(repeat: int, iterations: int) -> None:
    """Seconds per training iteration at batch 4 x 256^2, reference vs ours, interleaved."""
    print(f"\n## Training: seconds per iteration, batch 4 x 256², fp32, load {os.getloadavg()[0]:.2f}\n")
    with tempfile.TemporaryDirectory() as tmp:
        files = _training_files(Path(tmp))
        torch.manual_seed(1)
        batch = torch.rand(4, 3, 256, 256)
        ref_net = RefTransformerNet().train()
        vgg = ref_vgg16(torch.load(files["vgg16"], weights_only=True))
        optimizer = torch.optim.Adam(ref_net.parameters(), 1e-3)
        style = torch.from_numpy(np.array(Image.open(files["style"]))).permute(2, 0, 1).float()
        style = style.unsqueeze(0).repeat(4, 1, 1, 1)
        gram_style = [ref_gram_matrix(y) for y in ref_features(vgg, ref_normalize_batch(style))]
        ours = {
            (net, p): _our_trainer(files, net, batch, Path(tmp) / f"{net}{p}.safetensors", p)
            for net in ("vgg16", "vgg19")
            for p in ("fp32", "auto")
        }
        auto = ours["vgg19", "auto"].precision  # type: ignore[attr-defined]
        variants = {
            "reference (pytorch/examples, VGG-16), fp32": lambda: ref_train_step(
                ref_net, vgg, optimizer, gram_style, batch * 255.0
            ),
            "ours, --loss-net vgg16 (same layers), fp32": ours["vgg16", "fp32"]._step,  # type: ignore[attr-defined]
            f"ours, --loss-net vgg16, auto = {auto}": ours["vgg16", "auto"]._step,  # type: ignore[attr-defined]
            "ours, default loss net (normalised VGG-19), fp32": ours["vgg19", "fp32"]._step,  # type: ignore[attr-defined]
            f"ours, default loss net, auto = {auto} (the default)": ours["vgg19", "auto"]._step,  # type: ignore[attr-defined]
        }
        times = interleaved(variants, repeat)
        base = next(iter(times.values()))
        print("| variant | s / iteration | iterations/s | speed-up | CPU s |")
        print("|---|---:|---:|---:|---:|")
        for name, seconds in times.items():
            print(f"| {name} | {seconds:.3f} | {1 / seconds:.3f} | {base / seconds:.2f}x | {CPU_TIMES[name]:.2f} |")
        _whole_run(files, iterations, Path(tmp))


def _whole_run(files: dict[str, Path], iterations: int, tmp: Path) -> None:
    """Our whole train-fast on real photos (../shared/data/content if present), loader workers included."""
    from stylize.config import FastTrainConfig
    from stylize.training.fast import train_fast

    shared = ROOT.parent / "shared" / "data" / "content"
    photos = shared if shared.is_dir() else files["photos"]
    rates = []
    for k in range(3):
        cfg = FastTrainConfig(
            iterations=iterations,
            batch_size=4,
            image_size=256,
            loss_net=str(files["vgg19"]),
            sample_every=0,
            checkpoint_every=0,
            log_every=1,
        )
        start = time.perf_counter()
        train_fast(files["style"], photos, tmp / f"run{k}.safetensors", cfg)
        rates.append(iterations / (time.perf_counter() - start))
    print(
        f"\nWhole `train-fast` ({photos.name}/ photos decoded by 2 DataLoader workers, {iterations} iterations "
        f"incl. start-up, default loss net): median {statistics.median(rates):.3f} iterations/s "
        f"(runs: {', '.join(f'{r:.3f}' for r in rates)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--sections", default="model,quality,folder")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--train-iterations", type=int, default=6, help="iterations of the whole train-fast run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = args.sections.split(",")
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if "model" in sections:
        section_model([int(s) for s in args.sizes.split(",")], args.repeat)
    if "quality" in sections:
        section_quality()
    if "folder" in sections:
        section_folder(args.images, args.repeat)
    if "train" in sections:
        section_train(args.repeat, args.train_iterations)


if __name__ == "__main__":
    main()
