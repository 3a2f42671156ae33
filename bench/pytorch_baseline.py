#!/usr/bin/env python3
"""PyTorch side of issue 6's benchmarks: the reference models built in PyTorch, timed with one
thread the way the criterion benchmarks in benches/models.rs time netspec.

Models (float32, ReLU, softmax cross-entropy, batch 64): tiny 4-16-16-3, small 64-128-64-10,
medium 784-256-128-10. For each: single-sample predict (eval, no_grad), batch-64 predict, and a
batch-64 train step (zero_grad, forward, cross_entropy, backward, SGD momentum 0.9 step).

Timing: warm-up, then SAMPLES samples of a fixed number of iterations each (chosen so one sample
lasts about 20 ms), the median over samples of the time per iteration, in ns -- criterion's median.

Interpreter: $NETSPEC_TORCH_PYTHON if set (an existing Python with torch), else this Python if
it imports torch, else bench/.venv (created here, git-ignored) after `pip install torch`.

Usage: pytorch_baseline.py [OUT.json]   (default: print the JSON)
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = {"tiny": [4, 16, 16, 3], "small": [64, 128, 64, 10], "medium": [784, 256, 128, 10]}
BATCH = 64
SAMPLES = int(os.environ.get("NETSPEC_BENCH_SAMPLES", "40"))
SAMPLE_SECONDS = 0.02
WARMUP_SECONDS = 0.5


def reexec(python):
    """Runs this script under `python` (with the same arguments) and exits with its status."""
    env = dict(os.environ, NETSPEC_TORCH_REEXEC="1")
    sys.exit(subprocess.call([python, os.path.abspath(__file__), *sys.argv[1:]], env=env))


def ensure_torch():
    if os.environ.get("NETSPEC_TORCH_REEXEC"):
        return
    wanted = os.environ.get("NETSPEC_TORCH_PYTHON")
    if wanted:
        # Not compared by realpath: a venv's python is a symlink to the system one.
        reexec(wanted)
    try:
        import torch  # noqa: F401
        return
    except ImportError:
        pass
    env_dir = os.path.join(HERE, ".venv")
    python = os.path.join(env_dir, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {env_dir}", file=sys.stderr)
        venv.create(env_dir, with_pip=True)
    check = subprocess.call([python, "-c", "import torch"], stderr=subprocess.DEVNULL)
    if check != 0:
        print("pip-installing torch into bench/.venv", file=sys.stderr)
        subprocess.check_call([python, "-m", "pip", "install", "--quiet", "torch"])
    reexec(python)


def median_ns(fn):
    """Criterion-like: warm up, size a sample to ~SAMPLE_SECONDS, median of per-iteration means."""
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < WARMUP_SECONDS:
        fn()
        n += 1
    per_iter = (time.perf_counter() - start) / n
    iters = max(1, int(SAMPLE_SECONDS / per_iter))
    means = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter_ns()
        for _ in range(iters):
            fn()
        means.append((time.perf_counter_ns() - t0) / iters)
    return statistics.median(means)


def main():
    ensure_torch()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.manual_seed(0)
    results = {}
    for name, sizes in MODELS.items():
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i + 2 < len(sizes):
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        x = torch.rand(BATCH, sizes[0]) * 2 - 1
        t = torch.randint(0, sizes[-1], (BATCH,))
        one = x[:1].clone()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def predict():
            with torch.no_grad():
                return model(one)

        def predict_batch():
            with torch.no_grad():
                return model(x)

        def train_step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
            return loss

        model.eval()
        r = {"predict": median_ns(predict), "predict_batch": median_ns(predict_batch)}
        model.train()
        r["train_step"] = median_ns(train_step)
        results[name] = r
        print(f"{name}: " + ", ".join(f"{k} {v / 1e3:.2f} us" for k, v in r.items()), file=sys.stderr)
    out = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "unit": "ns (median over samples of the mean time per iteration)",
        "results": results,
    }
    text = json.dumps(out, indent=2)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
