#!/usr/bin/env python3
"""Export a torchvision classifier as a blindspot TorchScript split model.

    python python/export_torchvision.py ARCH OUT.pt [--weights STATE_DICT.pth] [--num-classes K]

ARCH is a torchvision VGG (vgg11 ... vgg19_bn), ResNet (resnet18 ... resnet152), vision transformer
(vit_b_16, vit_b_32, vit_l_16, ...) or Swin transformer (swin_t, swin_s, swin_b, swin_v2_t, ...).
The split puts the explained layer where CAM users usually put it:
  VGG:    features = every layer of `features` up to the last ReLU (conv5_3 + ReLU, 512x14x14 at 224);
          head = the last max-pool, the adaptive average pool, flatten, `classifier`.
  ResNet: features = stem + layer1..layer4 (2048x7x7 for resnet50 at 224);
          head = global average pool, flatten, `fc`. `--split layer3` (or layer2) explains a
          shallower stage: the head then runs the later stages first.
  ViT:    features = patch embedding, class token, position embedding, encoder blocks 1..L-1
          (tokens [N, 1 + h*w, D]); head = the last block, the final LayerNorm, the class token's
          classifier. `--block k` splits after block k. `to_grid` drops the class token and
          reads the patch tokens as [N, D, h, w] (pytorch-grad-cam's reshape_transform).
          `--at norm1` explains block k's first LayerNorm instead (default the last block:
          pytorch-grad-cam's recommended target): features return [input, ln_1(input)]
          concatenated on channels, the head runs the block from them, to_grid reads the second.
  Swin:   features = every module of `features` ([N, h, w, D] channels last, 768x7x7 for swin_t
          at 224); head = LayerNorm, average pool, classifier. `to_grid` moves channels first.
Nothing is downloaded: pass --weights with a state_dict you already have (for example one in
~/.cache/torch/hub/checkpoints), or get random weights. The exported module is in eval mode and has
the methods `features(x)` and `head(a)` that blindspot calls (and `to_grid(tokens)` for a
transformer).
"""
import argparse

import torch
import torch.nn as nn
import torchvision


class VggSplit(nn.Module):
    def __init__(self, vgg):
        super().__init__()
        layers = list(vgg.features.children())
        last_relu = max(i for i, m in enumerate(layers) if isinstance(m, nn.ReLU))
        self.body = nn.Sequential(*layers[: last_relu + 1])
        self.tail = nn.Sequential(*layers[last_relu + 1:])
        self.avgpool = vgg.avgpool
        self.classifier = vgg.classifier

    @torch.jit.export
    def features(self, x):
        return self.body(x)

    @torch.jit.export
    def head(self, a):
        return self.classifier(torch.flatten(self.avgpool(self.tail(a)), 1))

    def forward(self, x):
        return self.head(self.features(x))


class ResNetSplit(nn.Module):
    def __init__(self, net, split="layer4"):
        super().__init__()
        stages = [net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                  net.layer4]
        # The explained layer: layer4 (CAM's usual choice) or a shallower stage, whose feature map
        # is finer, so that a wall on it can hide more input rows (docs/models.md).
        at = {"layer4": 8, "layer3": 7, "layer2": 6}[split]
        self.body = nn.Sequential(*stages[:at])
        self.tail = nn.Sequential(*stages[at:])
        self.avgpool = net.avgpool
        self.fc = net.fc

    @torch.jit.export
    def features(self, x):
        return self.body(x)

    @torch.jit.export
    def head(self, a):
        return self.fc(torch.flatten(self.avgpool(self.tail(a)), 1))

    def forward(self, x):
        return self.head(self.features(x))


class VitEmbedding(nn.Module):
    """A torchvision ViT's input side: patches, the class token first, position embedding."""

    def __init__(self, net):
        super().__init__()
        self.conv_proj = net.conv_proj
        self.class_token = net.class_token
        self.pos_embedding = net.encoder.pos_embedding

    def forward(self, x):
        p = self.conv_proj(x)
        n, d = p.shape[0], p.shape[1]
        tokens = p.reshape(n, d, -1).permute(0, 2, 1)
        tokens = torch.cat([self.class_token.expand(n, -1, -1), tokens], dim=1)
        return tokens + self.pos_embedding


class VitSplit(nn.Module):
    """A torchvision VisionTransformer split after encoder block `block` (of its L blocks; default
    L - 1, so that the head runs the last block: after the last block the head reads the class
    token only and every patch token's gradient is 0, pytorch-grad-cam #513). `features` returns
    the tokens [N, 1 + h*w, D], the class token first; `to_grid` drops it and reads the patch
    tokens as [N, D, h, w] (pytorch-grad-cam's `vit_reshape_transform`)."""

    def __init__(self, net, block=None):
        super().__init__()
        layers = list(net.encoder.layers.children())
        block = len(layers) - 1 if block is None else block
        if not 1 <= block <= len(layers):
            raise SystemExit(f"error: --block {block} is outside 1..{len(layers)}\n"
                             f"  fix: split after one of the model's {len(layers)} blocks")
        self.embedding = VitEmbedding(net)
        self.body = nn.Sequential(*layers[:block])
        self.tail = nn.Sequential(*layers[block:])
        self.ln = net.encoder.ln
        self.heads = net.heads
        self.side = net.image_size // net.patch_size
        # The module whose output `features` returns (pytorch-grad-cam's target layer).
        self.cam_layer = layers[block - 1]

    @torch.jit.export
    def features(self, x):
        return self.body(self.embedding(x))

    @torch.jit.export
    def head(self, tokens):
        return self.heads(self.ln(self.tail(tokens))[:, 0])

    @torch.jit.export
    def to_grid(self, tokens):
        n, d = tokens.shape[0], tokens.shape[2]
        return tokens[:, 1:, :].reshape(n, self.side, self.side, d).permute(0, 3, 1, 2)

    def forward(self, x):
        return self.head(self.features(x))


class VitNorm1Split(nn.Module):
    """A torchvision VisionTransformer explained at the first LayerNorm of encoder block `block`
    (default: the last block), pytorch-grad-cam's recommended ViT target layer
    (`blocks[-1].norm1`). A split model's head sees only what `features` returns, and the block
    adds its input back after the attention, so `features` returns both, channel-concatenated:
    [N, 1 + h*w, 2D] = [block input, ln_1(block input)]. `head` runs the block's attention on the
    second half and adds the first; `to_grid` reads the second half's patch tokens."""

    def __init__(self, net, block=None):
        super().__init__()
        layers = list(net.encoder.layers.children())
        block = len(layers) if block is None else block
        if not 1 <= block <= len(layers):
            raise SystemExit(f"error: --block {block} is outside 1..{len(layers)}\n"
                             f"  fix: name one of the model's {len(layers)} blocks")
        self.embedding = VitEmbedding(net)
        self.body = nn.Sequential(*layers[:block - 1])
        self.block = layers[block - 1]
        self.tail = nn.Sequential(*layers[block:])
        self.ln = net.encoder.ln
        self.heads = net.heads
        self.side = net.image_size // net.patch_size
        self.width = net.hidden_dim
        self.cam_layer = self.block.ln_1

    @torch.jit.export
    def features(self, x):
        inputs = self.body(self.embedding(x))
        return torch.cat([inputs, self.block.ln_1(inputs)], dim=2)

    @torch.jit.export
    def head(self, tokens):
        inputs, z = tokens[:, :, :self.width], tokens[:, :, self.width:]
        # need_weights=True computes the attention by matrix products, which autograd can
        # differentiate twice (ShapleyCAM); the fused kernel of need_weights=False cannot.
        x, _ = self.block.self_attention(z, z, z, need_weights=True)
        x = self.block.dropout(x) + inputs
        x = x + self.block.mlp(self.block.ln_2(x))
        return self.heads(self.ln(self.tail(x))[:, 0])

    @torch.jit.export
    def to_grid(self, tokens):
        n = tokens.shape[0]
        z = tokens[:, 1:, self.width:]
        return z.reshape(n, self.side, self.side, self.width).permute(0, 3, 1, 2)

    def reshape_transform(self, z):
        """pytorch-grad-cam's `vit_reshape_transform` of the LayerNorm's own output (what its
        hooks see): what `to_grid` reads from the second half."""
        n = z.shape[0]
        return z[:, 1:, :].reshape(n, self.side, self.side, self.width).permute(0, 3, 1, 2)

    def forward(self, x):
        return self.head(self.features(x))


class SwinSplit(nn.Module):
    """A torchvision SwinTransformer split after stage module `block` of `features` (default:
    all of them, the last stage's output [N, h, w, D], channels last, which the head normalises
    and average-pools). `to_grid` moves the channels first (pytorch-grad-cam's
    `swinT_reshape_transform`)."""

    def __init__(self, net, block=None):
        super().__init__()
        stages = list(net.features.children())
        block = len(stages) if block is None else block
        if not 1 <= block <= len(stages):
            raise SystemExit(f"error: --block {block} is outside 1..{len(stages)}\n"
                             f"  fix: split after one of the model's {len(stages)} feature modules")
        self.body = nn.Sequential(*stages[:block])
        self.tail = nn.Sequential(*stages[block:])
        self.norm = net.norm
        self.permute = net.permute
        self.avgpool = net.avgpool
        self.flatten = net.flatten
        self.classifier = net.head
        self.cam_layer = stages[block - 1]

    @torch.jit.export
    def features(self, x):
        return self.body(x)

    @torch.jit.export
    def head(self, tokens):
        t = self.norm(self.tail(tokens))
        return self.classifier(self.flatten(self.avgpool(self.permute(t))))

    @torch.jit.export
    def to_grid(self, tokens):
        return tokens.permute(0, 3, 1, 2)

    def forward(self, x):
        return self.head(self.features(x))


def build(arch, weights, num_classes, split="layer4", block=None, at="input"):
    if not hasattr(torchvision.models, arch):
        raise SystemExit(f"error: unknown torchvision architecture `{arch}`\n  fix: use a VGG (vgg16, vgg16_bn, ...) or ResNet (resnet18, resnet50, ...)")
    net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    elif arch.startswith("vit_"):
        # torchvision initialises a ViT's classifier to zeros: every logit would be 0 for every
        # input and every gradient 0. Random weights mean a random classifier too.
        with torch.no_grad():
            net.heads.head.weight.normal_(0.0, 0.02)
    if arch.startswith("vgg"):
        return VggSplit(net)
    if arch.startswith("resnet") or arch.startswith("resnext") or arch.startswith("wide_resnet"):
        return ResNetSplit(net, split)
    if arch.startswith("vit_"):
        return VitNorm1Split(net, block) if at == "norm1" else VitSplit(net, block)
    if arch.startswith("swin_"):
        return SwinSplit(net, block)
    raise SystemExit(f"error: no split defined for `{arch}`\n  fix: see docs/models.md to write the two methods for your model")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arch")
    parser.add_argument("out")
    parser.add_argument("--weights", help="a state_dict file for the architecture (no download)")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--split", choices=["layer4", "layer3", "layer2"], default="layer4",
                        help="ResNet: the explained layer (default layer4)")
    parser.add_argument("--block", type=int,
                        help="ViT: split after this encoder block (default: all but the last); "
                             "Swin: after this module of `features` (default: all)")
    parser.add_argument("--at", choices=["input", "norm1"], default="input",
                        help="ViT: explain the input of the block after the split (default) or "
                             "the first LayerNorm of block --block (default the last), "
                             "pytorch-grad-cam's norm1 target")
    args = parser.parse_args()
    if args.at != "input" and not args.arch.startswith("vit_"):
        parser.error("--at applies to ViTs (vit_*)")
    if args.split != "layer4" and not args.arch.startswith(("resnet", "resnext", "wide_resnet")):
        parser.error("--split applies to ResNets; a VGG is split after its last ReLU")
    if args.block is not None and not args.arch.startswith(("vit_", "swin_")):
        parser.error("--block applies to vision transformers (vit_*, swin_*)")
    model = build(args.arch, args.weights, args.num_classes, args.split, args.block,
                  args.at).eval()
    torch.jit.script(model).save(args.out)
    at = args.split if not args.arch.startswith(("vit_", "swin_")) else f"block {args.block or 'default'}"
    print(f"wrote {args.out}: features -> head split of {args.arch} at {at}")


if __name__ == "__main__":
    main()
