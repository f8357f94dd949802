"""How good is a Fashion-MNIST generator? Scores in the feature space of our own classifier.

The evaluator is a small CNN trained here on the Fashion-MNIST training set and shipped as
``weights/fmnist-classifier.safetensors`` (``--train-classifier`` retrains it). On 10,000
samples (seeds 0..9999, exactly what ``stylize gan-sample --seeds 0-9999`` draws) against the
10,000 test images it reports:

  FID        Frechet distance between Gaussians fitted to the classifier's 128-d penultimate
             features (lower is better); "floor" = the same distance between 10,000 training
             images and the test set: what a perfect generator would score
  conf>0.9   share of samples the classifier labels with probability > 0.9 (test set: reference)
  entropy    entropy of the histogram of predicted classes, in bits (uniform over 10: 3.32)
  agree      conditional models: share of samples classified as the class they were drawn for

    python benches/gan_quality.py [--model weights/gan-fashion-mnist.safetensors] [--psi 1.0,0.8]
    python benches/gan_quality.py --train-classifier        # retrain and rewrite the evaluator
Run with ``nice -n 19``: training the classifier takes a few CPU minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stylize.backends.gan import Sampler, load_generator
from stylize.checkpoints import load_tensors, save_checkpoint
from stylize.training.gan_data import read_idx

DATA = ROOT.parent / "shared" / "data" / "gan"
CLASSIFIER = ROOT / "weights" / "fmnist-classifier.safetensors"
ARCHITECTURE = "fmnist-classifier"
FEATURES = 128


class FashionClassifier(nn.Module):
    """Three conv blocks (16, 32, 64 channels) and a 128-d feature layer: ~2.3 M multiply-adds per image."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        )  # fmt: skip
        self.features = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, 28, 28) in [0, 1] -> (features (B, 128), logits (B, 10))."""
        feats = self.features(self.convs((x - 0.286) / 0.353))  # Fashion-MNIST mean/std
        return feats, self.head(feats)


# ---------------------------------------------------------------- data


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 1, 28, 28) float in [0, 1] and labels (N,) of 'train' or 't10k'."""
    images = torch.from_numpy(read_idx(DATA / f"{split}-images-idx3-ubyte.gz").copy())
    labels = torch.from_numpy(read_idx(DATA / f"{split}-labels-idx1-ubyte.gz").astype(np.int64))
    return images[:, None].float() / 255.0, labels


# ---------------------------------------------------------------- the evaluator


def train_classifier(epochs: int = 3, seed: int = 0) -> FashionClassifier:
    torch.manual_seed(seed)
    images, labels = load_split("train")
    model = FashionClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (len(images) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images))
        for i in range(len(images) // 128):
            idx = order[i * 128 : (i + 1) * 128]
            x = images[idx]
            x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(-1), x)  # horizontal flips
            loss = F.cross_entropy(model(x)[1], labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"  classifier epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}", file=sys.stderr)
    return model.eval()


def save_classifier(model: FashionClassifier, accuracy: float, epochs: int) -> None:
    meta = {
        "architecture": ARCHITECTURE,
        "dataset": "Fashion-MNIST",
        "test_accuracy": round(accuracy, 4),
        "epochs": epochs,
        "features": FEATURES,
        "input": "(B, 1, 28, 28) in [0, 1]",
    }
    save_checkpoint(CLASSIFIER, model.state_dict(), meta)


def load_classifier() -> FashionClassifier:
    tensors, meta = load_tensors(CLASSIFIER)
    if meta.get("architecture") != ARCHITECTURE:
        raise SystemExit(f"{CLASSIFIER}: not the Fashion-MNIST classifier")
    model = FashionClassifier()
    model.load_state_dict(tensors)
    return model.eval()


@torch.no_grad()
def embed(model: FashionClassifier, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128) float64, probabilities (N, 10) float64)."""
    feats, probs = [], []
    for chunk in images.split(1000):
        f, logits = model(chunk)
        feats.append(f.double())
        probs.append(logits.double().softmax(-1))
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


# ---------------------------------------------------------------- scores


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((a + a.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def fid(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    tr(sqrt(C1 C2)) is computed as tr(sqrt(sqrt(C1) C2 sqrt(C1))), which is symmetric PSD, so
    an eigendecomposition suffices (no scipy).
    """
    m1, m2 = f1.mean(0), f2.mean(0)
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    s1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(s1 @ c2 @ s1)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(cross))


def confident_share(probs: np.ndarray, threshold: float = 0.9) -> float:
    return float((probs.max(1) > threshold).mean())


def class_entropy_bits(probs: np.ndarray) -> float:
    hist = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)
    hist = hist[hist > 0]
    return float(-(hist * np.log2(hist)).sum())


def scores(model: FashionClassifier, images: torch.Tensor, test_feats: np.ndarray) -> dict[str, float]:
    feats, probs = embed(model, images)
    return {
        "fid": fid(feats, test_feats),
        "conf": confident_share(probs),
        "entropy": class_entropy_bits(probs),
        "pred": probs.argmax(1),
    }


# ---------------------------------------------------------------- main


def sample_images(model_path: str, count: int, psi: float) -> tuple[torch.Tensor, np.ndarray | None, float]:
    """(images (count, 1, 28, 28) in [0, 1], drawn classes or None, samples/s)."""
    generator = load_generator(model_path)
    sampler = Sampler(generator, torch.device("cpu"), batch_size=500)
    seeds = list(range(count))
    start = time.perf_counter()
    images = sampler.images(seeds, psi=psi)
    rate = count / (time.perf_counter() - start)
    drawn = sampler.inputs(seeds).classes
    if images.shape[1] != 1:
        images = images.mean(1, keepdim=True)
    if images.shape[-1] != 28:
        images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True)
    return images, (drawn.numpy() if drawn is not None else None), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="generator(s) to score (default: the shipped one)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--psi", default="1.0", help="truncation values, comma-separated")
    parser.add_argument("--train-classifier", action="store_true", help="retrain and rewrite the evaluator")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not DATA.is_dir():
        raise SystemExit(f"{DATA}: Fashion-MNIST not found (../shared/data/gan)")
    test_images, test_labels = load_split("t10k")
    if args.train_classifier or not CLASSIFIER.is_file():
        classifier = train_classifier(args.epochs)
        acc = float((embed(classifier, test_images)[1].argmax(1) == test_labels.numpy()).mean())
        save_classifier(classifier, acc, args.epochs)
        print(f"classifier retrained: test accuracy {acc:.4f} -> {CLASSIFIER}", file=sys.stderr)
    classifier = load_classifier()
    test_feats, test_probs = embed(classifier, test_images)
    accuracy = float((test_probs.argmax(1) == test_labels.numpy()).mean())
    train_images, _ = load_split("train")
    floor_idx = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))[:10_000]
    floor = scores(classifier, train_images[floor_idx], test_feats)

    print(
        f"evaluator: {CLASSIFIER.relative_to(ROOT)}, test accuracy {accuracy:.4f}; "
        f"{args.samples:,} samples vs 10,000 test images\n"
    )
    print("| images | psi | FID (classifier features) | conf > 0.9 | class entropy (bits) | agree | samples/s |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| test set itself | - | 0 | {confident_share(test_probs):.3f} | {class_entropy_bits(test_probs):.3f} "
        f"| {accuracy:.3f} | - |"
    )
    print(
        f"| 10k training images (floor) | - | {floor['fid']:.3f} | {floor['conf']:.3f} | {floor['entropy']:.3f} "
        "| - | - |"
    )
    for model_path in args.model or ["fashion-mnist"]:
        for psi in (float(p) for p in args.psi.split(",")):
            images, drawn, rate = sample_images(model_path, args.samples, psi)
            result = scores(classifier, images, test_feats)
            agree = f"{(result['pred'] == drawn).mean():.3f}" if drawn is not None else "-"
            print(
                f"| {model_path} | {psi:g} | {result['fid']:.3f} | {result['conf']:.3f} | "
                f"{result['entropy']:.3f} | {agree} | {rate:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
