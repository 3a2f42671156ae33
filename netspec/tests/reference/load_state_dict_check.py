"""PyTorch's strict `load_state_dict` accepts a netspec checkpoint with batch-norm buffers.

NETSPEC_KEEP_CHECKPOINT=/tmp/net.safetensors cargo test -p netspec --test modes checkpoints
/tmp/torchenv/bin/python netspec/tests/reference/load_state_dict_check.py /tmp/net.safetensors
"""
import json
import struct
import sys

import torch


def load_file(path):
    # safetensors: u64 header length, JSON header, raw little-endian data (no safetensors
    # package needed).
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = bytearray(raw[8 + n + start : 8 + n + end])
        out[name] = torch.frombuffer(data, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).clone()
    return out


state = load_file(sys.argv[1])
# `network Net` of netspec/tests/modes.rs, named as netspec names its layers.
model = torch.nn.Sequential()
model.add_module("dense1", torch.nn.Linear(4, 6))
model.add_module("batchnorm1", torch.nn.BatchNorm1d(6))
model.add_module("relu1", torch.nn.ReLU())
model.add_module("dropout1", torch.nn.Dropout(0.5))
model.add_module("dense2", torch.nn.Linear(6, 3))
print(model.load_state_dict(state, strict=True))
print("num_batches_tracked:", model.batchnorm1.num_batches_tracked.dtype, int(model.batchnorm1.num_batches_tracked))
model.eval()
x = torch.tensor([[float(__import__("math").sin(i * 0.37)) for i in range(4)]])
print("eval output:", model(x).tolist())
