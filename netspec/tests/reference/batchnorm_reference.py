"""Reference values for netspec's batch norm and dropout, computed by PyTorch.

Run: /tmp/torchenv/bin/python netspec/tests/reference/batchnorm_reference.py > netspec/tests/reference/batchnorm_reference.json
The Rust test `netspec/tests/reference.rs` builds the same inputs from the same formulas and
compares. Everything in float64 except where stated, so the values are exact to ~1e-15.
"""
import json
import math

import torch

torch.set_default_dtype(torch.float64)


def inputs(rows, width, phase):
    # x[n][j] = 2 sin(0.7 n + 1.3 j + phase) + 0.1 j: deterministic, reproducible in Rust.
    return torch.tensor(
        [[2.0 * math.sin(0.7 * n + 1.3 * j + phase) + 0.1 * j for j in range(width)] for n in range(rows)]
    )


def case(bn, x_shape, phase, steps):
    rows, width = x_shape[0], math.prod(x_shape[1:])
    channels = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5 + 0.25 * c for c in range(channels)]))
        bn.bias.copy_(torch.tensor([0.1 * c - 0.2 for c in range(channels)]))
    bn.train()
    for step in range(steps - 1):
        bn(inputs(rows, width, phase + step).reshape(x_shape))
    x = inputs(rows, width, phase + steps - 1).reshape(x_shape).requires_grad_(True)
    target = inputs(rows, width, phase + 10.0).reshape(x_shape)
    y = bn(x)
    loss = ((y - target) ** 2).mean()  # nn.MSELoss
    loss.backward()
    bn.eval()
    with torch.no_grad():
        y_eval = bn(inputs(rows, width, phase + 20.0).reshape(x_shape))
    flat = lambda t: t.detach().reshape(-1).tolist()
    return {
        "rows": rows,
        "channels": channels,
        "spatial": width // channels,
        "eps": bn.eps,
        "momentum": bn.momentum,
        "phase": phase,
        "steps": steps,
        "gamma": flat(bn.weight),
        "beta": flat(bn.bias),
        "y_train": flat(y),
        "loss": loss.item(),
        "grad_x": flat(x.grad),
        "grad_gamma": flat(bn.weight.grad),
        "grad_beta": flat(bn.bias.grad),
        "running_mean": flat(bn.running_mean),
        "running_var": flat(bn.running_var),
        "num_batches_tracked": int(bn.num_batches_tracked.item()),
        "y_eval": flat(y_eval),
    }


def dropout_case(p):
    # nn.Dropout on ones (float32, as netspec): kept units are 1/(1-p), eval is the identity.
    torch.manual_seed(0)
    drop = torch.nn.Dropout(p)
    ones = torch.ones(100_000, dtype=torch.float32)
    train = drop.train()(ones)
    kept = sorted(set(train.tolist()) - {0.0})
    return {
        "p": p,
        "kept_value": kept,
        "dropped_fraction": (train == 0).double().mean().item(),
        "train_mean": train.double().mean().item(),
        "eval_values": sorted(set(drop.eval()(ones).tolist())),
    }


print(
    json.dumps(
        {
            "torch_version": torch.__version__,
            "batchnorm1d": case(torch.nn.BatchNorm1d(4, eps=1e-5, momentum=0.1), (6, 4), 0.0, 3),
            "batchnorm1d_custom": case(torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.3), (5, 3), 1.0, 2),
            "batchnorm2d": case(torch.nn.BatchNorm2d(2, eps=1e-5, momentum=0.1), (3, 2, 2, 2), 0.5, 2),
            "dropout": [dropout_case(0.5), dropout_case(0.2)],
        },
        indent=1,
    )
)
