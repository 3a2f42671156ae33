#!/usr/bin/env python3
"""PyTorch side of issue 6's benchmarks: the reference models built in PyTorch, timed with
$NETSPEC_TORCH_THREADS threads (default 1) the way the criterion benchmarks in benches/models.rs time netspec.

Models (float32, ReLU, softmax cross-entropy, batch 64): tiny 4-16-16-3, small 64-128-64-10,
medium 784-256-128-10, large 784-1024-1024-10, cifar_cnn (bench/src/lib.rs's CifarCnn), and digits_cnn, the layers of specs/digits_cnn.nn on (N, 1, 8, 8) inputs:
conv 16 3x3 pad 1, batch norm, ReLU, a residual block x + F(x) with F = conv-bn-relu-conv and
stochastic depth 0.1 (torchvision's mode "row": per-sample keep mask while training, identity in
eval), 2x2 max pooling, flatten, dense 64, ReLU, dropout 0.5, dense 10 (the spec's preprocess,
augment and penalty statements are not part of the model, as in bench/src/lib.rs); kws_ds_cnn
(tests/specs/kws_ds_cnn.nn) and activity (specs/activity.nn). For each:
single-sample predict (eval, no_grad), batch-64 predict, and a batch-64 train step (zero_grad,
forward, cross_entropy, backward, SGD momentum 0.9 step).

Timing: warm-up, then SAMPLES samples of a fixed number of iterations each (chosen so one sample
lasts about 20 ms), the median over samples of the time per iteration, in ns -- criterion's median;
with NETSPEC_BENCH_STAT=fastest the fastest sample's time per iteration instead (steadier on a
shared, noisy host).

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
MODELS = {
    "tiny": [4, 16, 16, 3],
    "small": [64, 128, 64, 10],
    "medium": [784, 256, 128, 10],
    "large": [784, 1024, 1024, 10],
}
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


STAT = os.environ.get("NETSPEC_BENCH_STAT", "median")
if STAT not in ("median", "fastest"):
    sys.exit(f"error: NETSPEC_BENCH_STAT={STAT!r}: use 'median' or 'fastest'")


def sample_ns(fn):
    """Criterion-like: warm up, size a sample to ~SAMPLE_SECONDS, then the median (or with
    NETSPEC_BENCH_STAT=fastest the minimum) of the samples' per-iteration means."""
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
    return min(means) if STAT == "fastest" else statistics.median(means)


def digits_cnn(torch):
    """The layers of specs/digits_cnn.nn with its inits; input (N, 1, 8, 8), 10 classes."""
    nn = torch.nn

    def conv(channels_in, init):
        c = nn.Conv2d(channels_in, 16, 3, padding=1)
        if init == "zeros":
            nn.init.zeros_(c.weight)
        else:
            nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
        return c

    class Residual(nn.Module):
        """x + F(x), F dropped per sample with probability p while training (torchvision's
        stochastic_depth, mode "row": Bernoulli(1 - p) keep mask scaled by 1 / (1 - p))."""

        def __init__(self, branch, p):
            super().__init__()
            self.branch, self.p = branch, p

        def forward(self, x):
            y = self.branch(x)
            if self.training and self.p > 0.0:
                keep = 1.0 - self.p
                mask = torch.empty((y.shape[0],) + (1,) * (y.dim() - 1), dtype=y.dtype)
                y = y * mask.bernoulli_(keep).div_(keep)
            return x + y

    dense1, dense2 = nn.Linear(16 * 4 * 4, 64), nn.Linear(64, 10)
    nn.init.kaiming_uniform_(dense1.weight, nonlinearity="relu")
    nn.init.xavier_uniform_(dense2.weight)
    nn.init.zeros_(dense2.bias)
    stem = [conv(1, "kaiming_normal"), nn.BatchNorm2d(16), nn.ReLU()]
    branch = [conv(16, "kaiming_normal"), nn.BatchNorm2d(16), nn.ReLU(), conv(16, "zeros")]
    return nn.Sequential(
        *stem,
        Residual(nn.Sequential(*branch), 0.1),
        nn.MaxPool2d(2),
        nn.Flatten(),
        dense1,
        nn.ReLU(),
        nn.Dropout(0.5),
        dense2,
    )


def cifar_cnn(torch):
    """The CifarCnn of bench/src/lib.rs: (N, 3, 32, 32) inputs, PyTorch's default inits."""
    nn = torch.nn
    stage = lambda cin, cout: [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(
        *stage(3, 32), *stage(32, 64), nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def kws_ds_cnn(torch):
    """tests/specs/kws_ds_cnn.nn: (N, 1, 49, 10) MFCC frames, 12 keywords, default inits."""
    nn = torch.nn
    layers = [nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1), bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    for _ in range(4):
        layers += [nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        layers += [nn.Conv2d(64, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12))


def activity(torch):
    """specs/activity.nn: (N, 3, 128) accelerometer windows, 4 activities, default inits."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv1d(3, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(16, 32, 3, padding=2, dilation=2), nn.BatchNorm1d(32), nn.ReLU(),
        nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False),
        nn.Conv1d(32, 32, 5, padding=2, groups=32), nn.Conv1d(32, 32, 1), nn.ReLU(),
        nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(32, 4),
    )


def models(torch):
    """(name, model, input shape of one sample, classes) of every reference model, built in
    this order after torch.manual_seed(0) (the MLPs first, so their weights stay as before)."""
    for name, sizes in MODELS.items():
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i + 2 < len(sizes):
                layers.append(torch.nn.ReLU())
        yield name, torch.nn.Sequential(*layers), (sizes[0],), sizes[-1]
    yield "digits_cnn", digits_cnn(torch), (1, 8, 8), 10
    yield "cifar_cnn", cifar_cnn(torch), (3, 32, 32), 10
    yield "kws_ds_cnn", kws_ds_cnn(torch), (1, 49, 10), 12
    yield "activity", activity(torch), (3, 128), 4


def main():
    ensure_torch()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(int(os.environ.get("NETSPEC_TORCH_THREADS", "1")))
    torch.manual_seed(0)
    results = {}
    for name, model, shape, classes in models(torch):
        x = torch.rand(BATCH, *shape) * 2 - 1
        t = torch.randint(0, classes, (BATCH,))
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
        r = {"predict": sample_ns(predict), "predict_batch": sample_ns(predict_batch)}
        model.train()
        r["train_step"] = sample_ns(train_step)
        results[name] = r
        print(f"{name}: " + ", ".join(f"{k} {v / 1e3:.2f} us" for k, v in r.items()), file=sys.stderr)
    out = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "unit": f"ns ({STAT} over samples of the mean time per iteration)",
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
