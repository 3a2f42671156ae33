"""Checks exported PyTorch modules against netspec, one case directory per network, written by
tests/tests/torch_parity.rs: case.txt (module, class, steps, lr, momentum), init.safetensors and
final.safetensors (netspec checkpoints), data.safetensors (batches, netspec's masks, losses,
gradients and eval outputs). Writes torch_final.safetensors and torch_eval.safetensors back for
the reverse check in Rust. Exits 1 on the first mismatch, naming it.

    python parity.py CASE_DIR...
"""

import importlib
import os
import sys
import warnings

import numpy as np
import onnxruntime
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file, save_file

# Tolerances: max |a - b| over a tensor divided by max(max |b|, 1e-3) (relative to its scale).
EVAL_TOL = 1e-5
LOSS_TOL = 1e-5
GRAD_TOL = 1e-4
PARAM_TOL = 1e-4


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-3)) if b.size else 0.0


def check(what, a, b, tol, worst):
    err = rel_error(a, b)
    worst[what] = max(worst.get(what, 0.0), err)
    if not err <= tol:
        raise AssertionError(f"{what}: relative error {err:.3g} > {tol:g}\n"
                             f"torch:   {np.asarray(a).ravel()[:8]}\nnetspec: {np.asarray(b).ravel()[:8]}")


def flat(outputs, heads):
    """Outputs as netspec lays them out: heads side by side, in spec order."""
    if isinstance(outputs, dict):
        return torch.cat([outputs[h] for h in heads], dim=1)
    return outputs


def per_sample(model):
    """Whether a batch norm of the module keeps no running statistics: torch's eval then
    normalizes with the statistics of the batch given, netspec's `predict` with each sample's own,
    which is torch's eval of that sample alone. Such modules are evaluated one sample at a time."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
               for m in model.modules())


def evaluate(model, x, heads):
    """Eval outputs of the rows of `x`, one row at a time where `per_sample(model)`."""
    if per_sample(model):
        return torch.cat([flat(model(x[i:i + 1]), heads) for i in range(x.shape[0])])
    return flat(model(x), heads)


def load_strict(model, path):
    """load_state_dict(strict=True), after checking every dtype and shape equals the module's."""
    state = load_file(path)
    own = model.state_dict()
    for key, value in own.items():
        if key not in state:
            raise AssertionError(f"{path}: no `{key}`")
        if state[key].dtype != value.dtype or state[key].shape != value.shape:
            raise AssertionError(f"{key}: checkpoint {state[key].dtype} {tuple(state[key].shape)}, "
                                 f"module {value.dtype} {tuple(value.shape)}")
    model.load_state_dict(state, strict=True)


def targets(data, step, heads, classes):
    def one(key, is_class):
        t = torch.from_numpy(data[key])
        return t.to(torch.long) if is_class else t
    if heads:
        return {h: one(f"step{step}.y.{h}", c) for h, c in zip(heads, classes)}
    return one(f"step{step}.y", classes[0])


def run(case):
    meta = dict(line.split("=", 1) for line in open(os.path.join(case, "case.txt")).read().split())
    sys.path.insert(0, case)
    module = importlib.import_module(meta["module"])
    sys.path.pop(0)
    cls = getattr(module, meta["class"])
    heads = [h for h in meta["heads"].split(",") if h]
    classes = [c == "1" for c in meta["classes"].split(",")]
    steps, lr, momentum = int(meta["steps"]), float(meta["lr"]), float(meta["momentum"])
    data = load_numpy(os.path.join(case, "data.safetensors"))
    worst = {}

    # 1. netspec's initial checkpoint loads strictly; eval outputs agree
    model = cls()
    load_strict(model, os.path.join(case, "init.safetensors"))
    model.eval()
    with torch.no_grad():
        check("eval (init)", evaluate(model, torch.from_numpy(data["eval.x"]), heads),
              data["eval.init"], EVAL_TOL, worst)

    # 2. K training steps on netspec's batches and masks: losses, first gradients, parameters
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    names = dict(model.named_parameters())
    for step in range(steps):
        x = torch.from_numpy(data[f"step{step}.x"])
        prefix = f"step{step}.noise."
        noise = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
        out = model(x, noise=noise)
        data_loss = model.loss(out, targets(data, step, heads, classes))
        penalty = model.penalty()
        total = data_loss + penalty
        expected = data[f"step{step}.loss"]
        check("loss", [total.item(), data_loss.item(), penalty.item()], expected, LOSS_TOL, worst)
        optimizer.zero_grad()
        total.backward()
        if step == 0:
            for key, p in names.items():
                check(f"grad {key}", p.grad, data[f"grad.{key}"], GRAD_TOL, worst)
        optimizer.step()
    final = load_file(os.path.join(case, "final.safetensors"))
    for key, value in model.state_dict().items():
        if value.dtype == torch.int64:
            if not torch.equal(value, final[key]):
                raise AssertionError(f"{key}: torch {value} netspec {final[key]}")
        else:
            check(f"trained {key}", value, final[key], PARAM_TOL, worst)
    worst["trained"] = max(v for k, v in worst.items() if k.startswith("trained "))
    worst["grad"] = max((v for k, v in worst.items() if k.startswith("grad ")), default=0.0)

    # 3. reverse: the torch-trained module's state and eval outputs, for Rust to load and compare
    model.eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(case, "torch_final.safetensors"))
    with torch.no_grad():
        ours = evaluate(model, torch.from_numpy(data["eval.x"]), heads)
    save_file({"eval": ours.contiguous()}, os.path.join(case, "torch_eval.safetensors"))

    # 4. netspec's trained checkpoint in eval mode, directly and through ONNX
    fresh = cls()
    load_strict(fresh, os.path.join(case, "final.safetensors"))
    fresh.eval()
    x = torch.from_numpy(data["eval.x"])
    with torch.no_grad():
        check("eval (trained)", evaluate(fresh, x, heads), data["eval.final"], EVAL_TOL, worst)
    path = os.path.join(case, "model.onnx")
    # A batch norm without running statistics exports for a fixed batch only: one sample.
    rows = per_sample(fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(fresh, (x[:1] if rows else x,), path, dynamo=False, input_names=["x"],
                          output_names=heads or ["y"],
                          dynamic_axes=None if rows else {"x": {0: "n"}})
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    eval_x = data["eval.x"]
    batches = [eval_x[i:i + 1] for i in range(len(eval_x))] if rows else [eval_x]
    got = np.concatenate([np.concatenate(session.run(None, {"x": b}), axis=1) for b in batches])
    check("onnx", got, data["eval.final"], EVAL_TOL, worst)

    shown = {k: v for k, v in worst.items() if " " not in k or k.startswith("eval") or k == "onnx"}
    print(f"{meta['class']:12} " + "  ".join(f"{k} {v:.1e}" for k, v in shown.items()),
          flush=True)


def main():
    torch.set_num_threads(1)
    failed = 0
    for case in sys.argv[1:]:
        try:
            run(case)
        except Exception as e:  # report every case, then fail
            failed += 1
            print(f"FAILED {case}: {type(e).__name__}: {e}", flush=True)
    print(f"{len(sys.argv) - 1 - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
