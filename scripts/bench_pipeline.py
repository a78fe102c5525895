"""End-to-end throughput of the IRN recipe's cam, localize and evaluate stages, each beside its
floor measured in the same run, on generated VOC- and COCO-sized trees.

    python scripts/bench_pipeline.py --device cuda --precision bf16   # a GPU: every image
    python scripts/bench_pipeline.py --cam-images 4 --eval-images 300  # a CPU: fewer maps
    python scripts/bench_pipeline.py --quick                  # CPU check, ~2-3 minutes on 2 cores
    python scripts/bench_pipeline.py --competing            # training beside a busy process

The trees (1,464 VOC-format images around 500 x 375 with 20 classes; 5,000 COCO-format images
around 640 x 480 with 80 classes; wsol.demo.bench_trees) and a random-init ResNet-50 (output
stride 16, bias-free head: IRN's network) are written once under ``--cache`` and reused. Every
stage runs through ``scripts/run.py`` (``experiment=voc_resnet`` / ``coco_resnet``) in its own
process, so its peak memory is its own; its time is the stage's own (``stage X done in``). The
floors (bench_floors.py): JPEG decode; the same model's forward alone over the same images,
scales, flips and batches; the evaluators at one threshold. localize and evaluate run with 1
and with ``--threads`` worker processes. On a CPU, where ResNet-50 at four scales takes seconds
per image, ``--cam-images`` limits the cam measurement and localize / evaluate score
``--eval-images`` maps made by a quarter-width ResNet-18 at the same stride (the same store
layout and map sizes, so the same scoring work); on a GPU both cover the whole tree.
``--quick`` (a pipeline check, not the ResNet-50 figure): 96-image trees at the real sizes,
the quarter-width ResNet-18 for the cam stage too, 48 images per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from bench_floors import decode_rates, forward_floor, open_split

from wsol.demo.bench_trees import COCO_SIZED, VOC_SIZED, ensure_tree, subset_split
from wsol.io.cpus import available_cpus, loader_workers, thread_limit
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier

REPO = Path(__file__).resolve().parents[1]
# runs scripts/run.py as its own __main__ and, at exit, leaves its peak memory in a file: VmHWM
# of this process (ru_maxrss would also count the bench's own pages, copied at the fork that
# started it) and ru_maxrss of its largest child (loader / worker processes, pages they share
# with the stage's process included)
WRAPPER = """
import atexit, json, os, re, resource, runpy, sys
def stats():
    try:
        with open("/proc/self/status") as handle:
            rss = int(re.search(r"VmHWM:\\s+(\\d+)", handle.read()).group(1))
    except (OSError, AttributeError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {"rss_kb": rss,
           "workers_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
    with open(os.environ["WSOL_BENCH_STATS"], "w") as handle:
        json.dump(out, handle)
atexit.register(stats)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def stage(name: str, run_dir: Path, overrides: list[str]) -> dict:
    """Run one stage through the entry point; its seconds and peak memory."""
    stats = run_dir / "bench_stats.json"
    command = [sys.executable, "-c", WRAPPER, str(REPO / "scripts" / "run.py"), *overrides,
               f"stages=[{name}]", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "WSOL_BENCH_STATS": str(stats)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"stage {name} failed ({' '.join(command[3:])}):\n{done.stderr[-3000:]}")
    log = (run_dir / "run.log").read_text()
    seconds = float(re.findall(rf"stage {name} done in ([0-9.]+) s", log)[-1])
    threads = re.findall(r"threads: (\d+) per process", log)
    return {"seconds": seconds, "threads": int(threads[-1]) if threads else None,
            **json.loads(stats.read_text())}


def checkpoint(cache: Path, arch: str, classes: tuple[str, ...], name: str) -> Path:
    """A random-init classifier (output stride 16, bias-free head) saved once."""
    path = cache / f"{arch}_{name}.pt"
    if not path.is_file():
        torch.manual_seed(0)
        net, _ = build_backbone(arch, len(classes), None, 16, head_bias=False)
        save_classifier(path, net, {"arch": arch, "num_classes": len(classes),
                                    "output_stride": 16, "class_names": list(classes)})
    return path


def memory(result: dict) -> str:
    text = f"{result['rss_kb'] / 1024:.0f} / {result['workers_rss_kb'] / 1024:.0f} MB"
    if "cuda_peak_bytes" in result:
        text += f", GPU {result['cuda_peak_bytes'] / 2**30:.2f} GiB"
    return text


def tree_root(args, spec) -> Path:
    """The spec's tree under the cache, written the first time."""
    return ensure_tree(args.cache / ("VOCdevkit/VOC2012" if spec.format == "voc" else "coco"),
                       spec, workers=available_cpus())


def bench_dataset(args, spec, work: Path) -> list[tuple]:
    """The rows of one dataset: decode, cam, localize, evaluate."""
    root = tree_root(args, spec)
    experiment = "voc_resnet" if spec.format == "voc" else "coco_resnet"
    n_cam = min(args.cam_images or spec.num_images, spec.num_images)
    n_eval = min(args.eval_images or spec.num_images, spec.num_images)
    cam_split, eval_split = subset_split(root, spec, n_cam), subset_split(root, spec, n_eval)
    net = checkpoint(args.cache, args.cam_arch, spec.classes, spec.format)
    cuda = args.device == "cuda"
    common = [f"experiment={experiment}", f"data.root={root}", "model.weights=null",
              f"paths.cache_dir={work / 'cache'}", "trainer.devices=1",
              f"trainer.accelerator={'gpu' if cuda else 'cpu'}",
              f"cam.batch_size={args.batch_size}",
              f"data.num_workers={args.workers}", f"cam.precision={args.precision}",
              f"cam.channels_last={str(args.channels_last).lower()}", "eval.num_figures=0"]
    cam_run = [*common, f"data.cam_split={cam_split}", f"model.checkpoint={net}",
               f"model.arch={args.cam_arch}", f"threads={args.threads}"]
    rows = []
    images = open_split(spec.format, root, cam_split)
    decode, items = decode_rates(images)
    rows.append((spec.format, "decode", n_cam, "-", f"JPEG decode {decode:.1f} img/s, + IRN "
                 f"pyramid {items:.1f} img/s (one core; x{max(1, args.workers)} workers)", "", ""))
    cam = stage("cam", work / f"{spec.format}_cam", cam_run)
    floor = forward_floor(images, net, args.batch_size, "cuda" if cuda else "cpu",
                          args.precision, args.channels_last, args.threads)
    rate = n_cam / cam["seconds"]
    peak = f", GPU {floor.cuda_peak_bytes / 2**30:.2f} GiB" if floor.cuda_peak_bytes else ""
    rows.append((spec.format, f"cam ({args.cam_arch})", n_cam, f"{rate:.3f}",
                 f"forward only {floor.images_per_s:.3f} img/s ({floor.batches} batches{peak})",
                 f"{rate / floor.images_per_s:.2f} (>= 0.8)", memory(cam)))
    if n_eval == n_cam and args.eval_arch == args.cam_arch:
        eval_run = [o for o in cam_run if not o.startswith("threads=")]
    else:  # maps of the same layout and sizes from a cheaper network (see the docstring)
        cheap = checkpoint(args.cache, args.eval_arch, spec.classes, spec.format)
        eval_run = [*common, f"data.cam_split={eval_split}", f"model.checkpoint={cheap}",
                    f"model.arch={args.eval_arch}"]
        stage("cam", work / f"{spec.format}_eval_maps", [*eval_run, f"threads={args.threads}"])
    for name in ("localize", "evaluate"):
        one = stage(name, work / f"{spec.format}_{name}_1", [*eval_run, "threads=1"])
        many = stage(name, work / f"{spec.format}_{name}_n", [*eval_run,
                                                              f"threads={args.threads}"])
        rate = n_eval / many["seconds"]
        floor_text = f"1 process {n_eval / one['seconds']:.1f} img/s"
        ratio = f"{one['seconds'] / many['seconds']:.2f}x on {args.threads} (>= 1.8 on 2)"
        if name == "evaluate":  # the same evaluators, one CAM and one seed threshold
            single = stage(name, work / f"{spec.format}_evaluate_floor",
                           [*eval_run, f"threads={args.threads}", "eval.cam_thresholds=[0.5]",
                            "eval.bg_thresholds=[0.15]"])
            floor_rate = n_eval / single["seconds"]
            floor_text += f"; one threshold, {args.threads} proc. {floor_rate:.1f} img/s"
            ratio += f"; {rate / floor_rate:.2f} of one threshold (no target)"
        rows.append((spec.format, f"{name} ({args.eval_arch} maps)", n_eval, f"{rate:.1f}",
                     floor_text, ratio, memory(many)))
    return rows


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line with every default settled (device, ``--quick``, CPU limits)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--batch-size", type=int, default=None, help="cam.batch_size")
    parser.add_argument("--cam-images", type=int, default=None)
    parser.add_argument("--eval-images", type=int, default=None)
    parser.add_argument("--cam-arch", default=None,
                        help="the cam stage's network (default resnet50; --quick: "
                        "resnet18_quarter)")
    parser.add_argument("--eval-arch", default=None,
                        help="the network whose maps localize / evaluate score (default: "
                        "resnet50 on a GPU, resnet18_quarter on a CPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads=N of the runs (default: every CPU this process may use)")
    parser.add_argument("--workers", type=int, default=None, help="cam loader workers")
    parser.add_argument("--quick", action="store_true", help="small trees, few images")
    parser.add_argument("--competing", action="store_true",
                        help="training throughput alone and beside a busy process")
    parser.add_argument("--steps", type=int, default=150, help="--competing: training steps")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    args.channels_last = cuda and args.precision == "bf16"
    args.batch_size = args.batch_size or (16 if cuda else 4)
    args.threads = args.threads or thread_limit()  # the cores given, busy or not
    args.workers = loader_workers(args.workers)
    args.specs = {"voc": VOC_SIZED, "coco": COCO_SIZED}
    if args.quick:  # small trees beside the full ones; a pipeline check, not the figure
        args.cache = args.cache / "quick"
        args.specs = {k: replace(s, num_images=96) for k, s in args.specs.items()}
        args.cam_arch = args.cam_arch or "resnet18_quarter"
        args.cam_images = args.cam_images or 48
        args.eval_images = args.eval_images or args.cam_images
    if not cuda:
        args.cam_images = args.cam_images or 4
    args.cam_arch = args.cam_arch or "resnet50"
    args.eval_arch = args.eval_arch or (args.cam_arch if cuda or args.quick
                                        else "resnet18_quarter")
    return args


def main() -> None:
    args = options()
    if args.competing:
        from bench_competing import bench_competing

        bench_competing(args.cache, args.steps)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    args.cache.mkdir(parents=True, exist_ok=True)
    work = args.cache / "runs" / time.strftime("%Y%m%d-%H%M%S")
    names = args.datasets.split(",")
    for name in names:  # every tree first: nothing else runs in this process yet
        tree_root(args, args.specs[name])
    load = os.getloadavg()
    print(f"device {args.device}, precision {args.precision}, channels_last "
          f"{args.channels_last}, cam.batch_size {args.batch_size}, threads {args.threads}, "
          f"loader workers {args.workers}, cam by {args.cam_arch}, eval maps by "
          f"{args.eval_arch}; load average "
          f"{load[0]:.2f} at start", flush=True)
    header = ("data", "stage", "images", "img/s", "floor (same run)", "ratio", "peak RSS "
              "(main / largest worker)")
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    for name in names:
        for row in bench_dataset(args, args.specs[name], work):
            print("| " + " | ".join(str(v) for v in row) + " |", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; runs in {work}")


if __name__ == "__main__":
    main()
