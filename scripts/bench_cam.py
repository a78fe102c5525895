"""Benchmark the CAM engine against a plain forward pass and the usual libraries.

Everything is measured in this one process, on the same model (weights=None), batch and device:
a plain forward pass (inference mode), our all-class maps, and, when installed, torch-cam,
Captum and pytorch-grad-cam doing the same work; ratios are to the forward pass. Peers' maps are
checked against ours (max difference relative to our map's max; pytorch-grad-cam only returns
min-max-normalised upsampled maps, so ours are normalised the same way for that check).

    python scripts/bench_cam.py --quick --threads 1   # small sizes, ~2 min on a 2-core CPU
    python scripts/bench_cam.py --device cuda --precision bf16 --channels-last

On CPU the default clock is process CPU time and ``--threads 1`` is advised on a shared machine:
other jobs then inflate neither figure, whereas OpenMP barriers stall badly when cores are busy.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision

from wsol.cam import GradCAM, multiscale_cams
from wsol.cam.engine import PRECISIONS
from wsol.cam.tta import IRN_SCALES


@dataclass
class Case:
    key: str
    name: str
    arch: str
    layer: str
    size: tuple[int, int]
    classes: int
    target: float
    force_autograd: bool = False


def cases(quick: bool) -> list[Case]:
    big = (224, 224) if quick else (448, 448)
    side = big[0]
    return [
        Case("r50-20", f"ResNet-50 {side}², 20 classes", "resnet50", "layer4", big, 20, 1.05),
        Case("r50-80", f"ResNet-50 {side}², 80 classes", "resnet50", "layer4", big, 80, 1.10),
        Case(
            "r50-80-autograd",
            "  same, autograd path forced",
            "resnet50",
            "layer4",
            big,
            80,
            1.10,
            True,
        ),
        Case("vgg16-20", "VGG-16 224², 20 classes", "vgg16", "features.29", (224, 224), 20, 1.35),
    ]


def build(arch: str, num_classes: int, device: str, channels_last: bool, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes, **kw)
    model = model.eval().to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = CLOCKS["wall"]


def sample(fn: Callable[[], object], device: str, repeats: int) -> list[float]:
    """Times of ``repeats`` calls of ``fn`` in milliseconds (wall clock, or process CPU time)."""
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = CLOCK()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((CLOCK() - start) * 1e3)
    return times


def interleaved(
    fns: dict[str, Callable[[], object]], device: str, repeats: int
) -> dict[str, float]:
    """Median ms per function, warmed up, measured round-robin so load drifts hit all alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name] += sample(fn, device, 1)
    return {name: statistics.median(t) for name, t in times.items()}


def autocast(device: str, precision: str):
    dtype = PRECISIONS[precision]
    return torch.autocast(device, dtype=dtype) if dtype else contextlib.nullcontext()


# -- peers: each returns maps (B, K, ...) for the given classes, doing its usual per-class work --


def peer_torchcam(model, layer, x, classes):
    from torchcam.methods import GradCAM as TorchCamGradCAM

    with TorchCamGradCAM(model, layer, input_shape=tuple(x.shape[1:])) as extractor:
        scores = model(x)
        maps = [
            extractor(c, scores, normalized=False, retain_graph=True)[0].detach() for c in classes
        ]
    return torch.stack(maps, 1)


def peer_captum(model, layer, x, classes):
    from captum.attr import LayerGradCam

    explainer = LayerGradCam(model, dict(model.named_modules())[layer])
    # detach each map at once: Captum's output keeps the whole forward graph alive otherwise
    maps = [
        explainer.attribute(x, target=c, relu_attributions=True)[:, 0].detach() for c in classes
    ]
    return torch.stack(maps, 1)


def peer_pytorch_grad_cam(model, layer, x, classes):
    from pytorch_grad_cam import GradCAM as PGGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with PGGradCAM(model, target_layers=[dict(model.named_modules())[layer]]) as cam:
        maps = [cam(x, [ClassifierOutputTarget(c)] * len(x)) for c in classes]
    return torch.stack([torch.from_numpy(m) for m in maps], 1)


PEERS = {"torch-cam": peer_torchcam, "captum": peer_captum, "grad-cam": peer_pytorch_grad_cam}


def agreement(name: str, theirs: torch.Tensor, ours: torch.Tensor) -> float:
    """Max |theirs - ours| relative to our map's max (per image and class)."""
    ours = ours.float().cpu()
    theirs = theirs.float().cpu()
    if name == "grad-cam":  # it returns min-max normalised maps resized by cv2 to the input
        import cv2
        import numpy as np

        size = theirs.shape[-1], theirs.shape[-2]
        flat = ours.flatten(0, 1).numpy()
        resized = []
        for m in flat:  # its scale_cam_image: normalise, resize, then normalise again
            m = m - m.min()
            m = cv2.resize(np.float32(m / (1e-7 + m.max())), size)
            m = m - m.min()
            resized.append(m / (1e-7 + m.max()))
        ours = torch.from_numpy(np.stack(resized)).reshape(theirs.shape)
        return (theirs - ours).abs().max().item()
    scale = ours.flatten(2).amax(-1)[..., None, None].clamp_min(1e-12)
    return ((theirs - ours).abs() / scale).max().item()


def run_case(case: Case, args, rows: list) -> None:
    device, batch = args.device, args.batch
    model = build(case.arch, case.classes, device, args.channels_last)
    x = torch.randn(batch, 3, *case.size, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.inference_mode(), autocast(device, args.precision):
            return model(x)

    cam = GradCAM(
        model,
        case.layer,
        precision=args.precision,
        closed_form=False if case.force_autograd else None,
    )
    ours = cam(x)
    med = interleaved({"forward": forward, "ours": lambda: cam(x)}, device, args.repeats)
    base = med["forward"]
    path = "closed form" if cam.uses_closed_form else "1 head backward"
    rows.append((case.name, "forward pass", base, 1.0, "", ""))
    rows.append(
        (case.name, f"wsol ({path})", med["ours"], med["ours"] / base, f"<= {case.target:.2f}", "")
    )
    cam.close()
    if case.force_autograd:
        return
    for name in args.peers:
        fn = PEERS[name]
        try:
            start = time.perf_counter()
            with autocast(device, args.precision):
                probe = fn(model, case.layer, x, [0, 1])  # warm-up on two classes
            estimate = (time.perf_counter() - start) * case.classes / 2 * args.peer_repeats
        except ImportError:
            rows.append((case.name, name, float("nan"), float("nan"), "", "not installed"))
            continue
        agree = f"max diff {agreement(name, probe, ours[:, :2]):.1e}"
        if estimate > args.peer_budget_s:
            rows.append(
                (
                    case.name,
                    name,
                    float("nan"),
                    float("nan"),
                    "",
                    f"skipped (est. {estimate:.0f} s > --peer-budget-s); {agree}",
                )
            )
            continue
        classes = list(range(case.classes))

        def work(fn=fn, classes=classes):
            with autocast(device, args.precision):
                fn(model, case.layer, x, classes)

        ms = statistics.median(sample(work, device, args.peer_repeats))
        # The forward measured right after, so a change of machine load shows in both.
        local = statistics.median(sample(forward, device, args.repeats))
        rows.append((case.name, name, ms, ms / local, "", f"{agree}; forward now {local:.1f} ms"))


def run_tta(args, rows: list) -> None:
    """IRN TTA (4 scales x flip, GT-like classes per image) vs the plain forwards it needs."""
    device, batch = args.device, args.batch
    height, width = (192, 256) if args.quick else (384, 512)
    name = f"IRN TTA {width}x{height}, 4 scales x flip"
    # IRN's classifier: ResNet-50 at output stride 16 (last stage dilated).
    model = build(
        "resnet50",
        20,
        device,
        args.channels_last,
        replace_stride_with_dilation=[False, False, True],
    )
    x = torch.randn(batch, 3, height, width, device=device)
    classes = [[(3 * b) % 20, (3 * b + 7) % 20][: 1 + b % 2] for b in range(batch)]

    def plain():  # the 8 forwards (4 scales x {image, flip}), flips batched with the originals
        with torch.inference_mode(), autocast(device, args.precision):
            for s in IRN_SCALES:
                xs = x if s == 1 else F.interpolate(x, scale_factor=s, mode="bilinear")
                model(torch.cat([xs, xs.flip(-1)]))

    with GradCAM(model, "layer4", precision=args.precision) as cam:
        med = interleaved(
            {
                "plain": plain,
                "ours": lambda: multiscale_cams(
                    cam, x, classes, IRN_SCALES, flip=True, out_size=(height, width)
                ),
            },
            device,
            args.repeats,
        )
    rows.append((name, "8 plain forwards", med["plain"], 1.0, "", ""))
    rows.append(
        (name, "wsol multiscale_cams", med["ours"], med["ours"] / med["plain"], "<= 1.10", "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch", type=int, default=None, help="default 16 on cuda, 2 on cpu")
    parser.add_argument(
        "--quick", action="store_true", help="small inputs: ResNet-50 at 224x224, TTA at 256x192"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (median)")
    parser.add_argument("--peer-repeats", type=int, default=None)
    parser.add_argument(
        "--peer-budget-s",
        type=float,
        default=None,
        help="skip a peer whose estimated time for a case exceeds this "
        "(default 15 with --quick, else 200)",
    )
    parser.add_argument(
        "--peers",
        default="torch-cam,captum,grad-cam",
        help="comma-separated subset of torch-cam,captum,grad-cam, or 'none'",
    )
    parser.add_argument(
        "--cases",
        default="r50-20,r50-80,r50-80-autograd,vgg16-20,tta",
        help="comma-separated subset of the cases to run",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default=None,
        help="wall (default on cuda) or process CPU time (default on cpu: other "
        "jobs on a shared machine inflate wall time, not our CPU time)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (1 avoids OpenMP stalls on a shared, loaded machine)",
    )
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    args.batch = args.batch or (16 if gpu else 2)
    args.repeats = args.repeats or (20 if gpu else 5)
    args.peer_repeats = args.peer_repeats or (3 if gpu else 1)
    if args.peer_budget_s is None:
        args.peer_budget_s = 15.0 if args.quick else 200.0
    args.peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    if unknown := set(args.peers) - set(PEERS):
        parser.error(f"unknown peers {sorted(unknown)}; choose from {sorted(PEERS)}")
    torch.backends.cudnn.benchmark = gpu
    if args.threads:
        torch.set_num_threads(args.threads)
    global CLOCK
    args.clock = args.clock or ("wall" if gpu else "cpu")
    CLOCK = CLOCKS[args.clock]
    device_name = (
        torch.cuda.get_device_name() if gpu else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"# bench_cam: {device_name}, torch {torch.__version__}, batch {args.batch}, "
        f"{args.precision}{', channels-last' if args.channels_last else ''}, "
        f"{args.clock} clock, median of {args.repeats} (peers {args.peer_repeats})"
    )
    print("| case | method | ms | × forward | target | note |")
    print("|---|---|---:|---:|---|---|", flush=True)
    rows = Rows()
    wanted = set(args.cases.split(","))
    for case in cases(args.quick):
        if case.key in wanted:
            run_case(case, args, rows)
    if "tta" in wanted:
        run_tta(args, rows)


class Rows(list):
    """Table rows, printed as markdown as soon as they are measured."""

    def append(self, row: tuple) -> None:
        super().append(row)
        case, method, ms, ratio, target, note = row
        ms_s = "—" if ms != ms else f"{ms:.1f}"
        ratio_s = "—" if ratio != ratio else f"{ratio:.2f}"
        print(f"| {case} | {method} | {ms_s} | {ratio_s} | {target} | {note} |", flush=True)


if __name__ == "__main__":
    main()
