"""Writes one of blindspot's built-in models as a TorchScript split model (methods `features` and
`head`), for external methods (docs/external-methods.md).

    python export_builtin.py ARCH.json WEIGHTS.safetensors OUT.pt

blindspot writes ARCH.json (the architecture: `vgg` with its configuration, `rcnn`, `vit` (a
token model: the split also exports `to_grid`), `walled`
around another architecture or a TorchScript file, `shifted`: another architecture that undoes
a constant shift of its input, or `reparameterised`: another architecture with its explained
channels permuted and rescaled) and WEIGHTS.safetensors (every parameter and
buffer with torchvision-style names, current values: trained, randomized, ...). The safetensors
file is read with numpy alone.
"""
import json
import struct
import sys

import torch
import torch.nn as nn


def read_safetensors(path):
    # numpy only here: blindspot's Python module runs `build` in-process, where numpy is optional.
    import numpy as np

    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


class Vgg(nn.Module):
    def __init__(self, config):
        super().__init__()
        layers, c = [], config["in_channels"]
        for layer in config["layers"]:
            if layer == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.Conv2d(c, layer, 3, padding=1))
                if config["batch_norm"]:
                    layers.append(nn.BatchNorm2d(layer))
                layers.append(nn.ReLU())
                c = layer
        self.features = nn.Sequential(*layers)
        h, w = config["height"], config["width"]
        for layer in config["layers"]:
            if layer == "M":
                h, w = h // 2, w // 2
        head, fan_in = [], c * h * w
        for i, out in enumerate(config["hidden"] + [config["classes"]]):
            head.append(nn.Linear(fan_in, out))
            if i < len(config["hidden"]):
                head += [nn.ReLU(), nn.Dropout(config["dropout"])]
            fan_in = out
        self.classifier = nn.Sequential(*head)

    def forward_features(self, x):
        return self.features(x)

    def forward_head(self, a):
        return self.classifier(torch.flatten(a, 1))


class Rcnn(nn.Module):
    def __init__(self, config):
        super().__init__()
        k, v = config["kernel"], config["filters"]
        self.conv = nn.Conv2d(config["in_channels"], v, k, bias=False)
        h = config["height"] - k + 1
        w = config["width"] - k + 1
        self.dense = nn.Linear(v * (h // 2) * (w // 2), config["classes"], bias=False)

    def forward_features(self, x):
        return torch.relu(self.conv(x))

    def forward_head(self, a):
        return self.dense(torch.flatten(torch.max_pool2d(a, 2, 2), 1))


class Attention(nn.Module):
    """blindspot's multi-head attention (src/model/vit.rs): separate query, key, value and output
    projections; scores that `allowed` forbids are -inf, whose softmax weights are exactly 0."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, q_in, kv_in, allowed: torch.Tensor, masked: bool):
        n, q_len, d = q_in.shape
        k_len = kv_in.shape[1]
        h = self.heads
        q = self.q(q_in).reshape(n, q_len, h, d // h).transpose(1, 2)
        k = self.k(kv_in).reshape(n, k_len, h, d // h).transpose(1, 2)
        v = self.v(kv_in).reshape(n, k_len, h, d // h).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / float(d // h) ** 0.5
        if masked:
            scores = scores.masked_fill(~allowed, float("-inf"))
        mixed = scores.softmax(-1) @ v
        return self.proj(mixed.transpose(1, 2).reshape(n, q_len, d))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp = Attention(dim, heads), Mlp(dim, hidden)


class Pool(Attention):
    """The attention-pooling head: its own projections (an Attention's), a learned probe as
    the one query, then a LayerNorm and an MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__(dim, heads)
        self.probe = nn.Parameter(torch.zeros(1, 1, dim))
        self.norm, self.mlp = nn.LayerNorm(dim, eps=1e-6), Mlp(dim, hidden)


class Vit(nn.Module):
    """blindspot's ViT (src/model/vit.rs) with its parameter names: patch embedding, position
    embedding, pre-LN blocks, the final LayerNorm (the explained tokens), then the
    attention-pooling head; a wall masks token rows `wall_from_row`.. out of every attention."""

    def __init__(self, config):
        super().__init__()
        d, p = config["dim"], config["patch"]
        rows, cols = config["height"] // p, config["width"] // p
        self.rows, self.cols, self.dim = rows, cols, d
        self.patch_embed = nn.Conv2d(config["in_channels"], d, p, stride=p)
        self.pos_embed = nn.Parameter(torch.zeros(1, rows * cols, d))
        self.blocks = nn.ModuleList(
            Block(d, config["heads"], config["mlp"]) for _ in range(config["depth"]))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.pool = Pool(d, config["heads"], config["mlp"])
        self.classifier = nn.Linear(d, config["classes"])
        wall = config.get("wall_from_row")
        top = torch.arange(rows * cols) // cols < (wall if wall is not None else rows)
        self.masked = wall is not None
        self.register_buffer("block_mask", top[:, None] == top[None, :])
        self.register_buffer("pool_mask", top[None, :].clone())

    def forward_features(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            y = block.norm1(t)
            t = t + block.attn(y, y, self.block_mask, self.masked)
            t = t + block.mlp(block.norm2(t))
        return self.norm(t)

    def forward_head(self, z):
        pool = self.pool
        probe = pool.probe.expand(z.shape[0], 1, self.dim)
        x = pool(probe, z, self.pool_mask, self.masked)
        x = x + pool.mlp(pool.norm(x))
        return self.classifier(x[:, 0])

    def to_grid(self, z):
        return z.reshape(z.shape[0], self.rows, self.cols, self.dim).permute(0, 3, 1, 2)


class TokenSplit(nn.Module):
    """A token model's split: `features`, `head` and `to_grid`."""

    def __init__(self, body):
        super().__init__()
        self.body = body

    @torch.jit.export
    def features(self, x):
        return self.body.forward_features(x)

    @torch.jit.export
    def head(self, a):
        return self.body.forward_head(a)

    @torch.jit.export
    def to_grid(self, a):
        return self.body.to_grid(a)

    def forward(self, x):
        return self.head(self.features(x))


class Split(nn.Module):
    def __init__(self, body, row_mask=None):
        super().__init__()
        self.body = body
        self.register_buffer("row_mask", row_mask if row_mask is not None else torch.ones(1))

    @torch.jit.export
    def features(self, x):
        return self.body.forward_features(x)

    @torch.jit.export
    def head(self, a):
        return self.body.forward_head(a * self.row_mask)

    def forward(self, x):
        return self.head(self.features(x))


class TorchScriptBody(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward_features(self, x):
        return self.module.features(x)

    def forward_head(self, a):
        return self.module.head(a)


class Shifted(nn.Module):
    """A split model that undoes a constant shift of its input (blindspot's input-invariance
    check): features(x - shift), the same head."""

    def __init__(self, split, shift):
        super().__init__()
        self.split = split
        self.shift = float(shift)

    @torch.jit.export
    def features(self, x):
        return self.split.features(x - self.shift)

    @torch.jit.export
    def head(self, a):
        return self.split.head(a)

    def forward(self, x):
        return self.head(self.features(x))


class Reparameterised(nn.Module):
    """The same function with the explained layer's channels permuted and rescaled (blindspot's
    implementation-invariance check): channel j of the new layer is scales[j] times channel
    permutation[j] of the old one; the head undoes both first."""

    def __init__(self, split, scales, permutation):
        super().__init__()
        self.split = split
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("permutation", torch.tensor(permutation, dtype=torch.long))
        self.register_buffer("inverse", torch.argsort(self.permutation))

    @torch.jit.export
    def features(self, x):
        a = self.split.features(x)
        return a.index_select(1, self.permutation) * self.scales.to(a.dtype)

    @torch.jit.export
    def head(self, a):
        return self.split.head((a / self.scales.to(a.dtype)).index_select(1, self.inverse))

    def forward(self, x):
        return self.head(self.features(x))


def build(arch, weights):
    kind = arch["kind"]
    if kind == "shifted":
        return Shifted(build(arch["inner"], weights), arch["shift"])
    if kind == "reparameterised":
        inner = build(arch["inner"], weights)
        return Reparameterised(inner, arch["scales"], arch["permutation"])
    if kind == "walled":
        inner = arch["inner"]
        body = TorchScriptBody(torch.jit.load(inner["path"])) if inner["kind"] == "torchscript" else build(inner, weights).body
        h = arch["feature_rows"]
        mask = torch.ones(1, 1, h, 1)
        mask[:, :, arch["first"]:arch["last"] + 1, :] = 0
        return Split(body, mask)
    if kind == "vit":
        body = Vit(arch["config"])
        missing, unexpected = body.load_state_dict(weights, strict=False)
        missing = [k for k in missing if not k.endswith("_mask")]
        if missing or unexpected:
            sys.exit(f"error: weights do not match the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return TokenSplit(body)
    body = Vgg(arch["config"]) if kind == "vgg" else Rcnn(arch["config"])
    state = {k[len("model."):] if k.startswith("model.") else k: v for k, v in weights.items()}
    if kind == "rcnn":
        state = {"conv.weight": state["conv.weight"], "dense.weight": state["dense.weight"]}
    missing, unexpected = body.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"error: weights do not match the architecture: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return Split(body)


if __name__ == "__main__":
    arch_path, weights_path, out = sys.argv[1:4]
    with open(arch_path) as f:
        arch = json.load(f)
    model = build(arch, read_safetensors(weights_path)).eval()
    torch.jit.script(model).save(out)
