#!/usr/bin/env python3
"""Export a torchvision classifier as a blindspot TorchScript split model.

    python python/export_torchvision.py ARCH OUT.pt [--weights STATE_DICT.pth] [--num-classes K]

ARCH is a torchvision VGG (vgg11 ... vgg19_bn) or ResNet (resnet18 ... resnet152). The split puts
the explained layer where CAM users usually put it:
  VGG:    features = every layer of `features` up to the last ReLU (conv5_3 + ReLU, 512x14x14 at 224);
          head = the last max-pool, the adaptive average pool, flatten, `classifier`.
  ResNet: features = stem + layer1..layer4 (2048x7x7 for resnet50 at 224);
          head = global average pool, flatten, `fc`. `--split layer3` (or layer2) explains a
          shallower stage: the head then runs the later stages first.
Nothing is downloaded: pass --weights with a state_dict you already have (for example one in
~/.cache/torch/hub/checkpoints), or get random weights. The exported module is in eval mode and has
the methods `features(x)` and `head(a)` that blindspot calls.
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


def build(arch, weights, num_classes, split="layer4"):
    if not hasattr(torchvision.models, arch):
        raise SystemExit(f"error: unknown torchvision architecture `{arch}`\n  fix: use a VGG (vgg16, vgg16_bn, ...) or ResNet (resnet18, resnet50, ...)")
    net = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    if weights:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    if arch.startswith("vgg"):
        return VggSplit(net)
    if arch.startswith("resnet") or arch.startswith("resnext") or arch.startswith("wide_resnet"):
        return ResNetSplit(net, split)
    raise SystemExit(f"error: no split defined for `{arch}`\n  fix: see docs/models.md to write the two methods for your model")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arch")
    parser.add_argument("out")
    parser.add_argument("--weights", help="a state_dict file for the architecture (no download)")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--split", choices=["layer4", "layer3", "layer2"], default="layer4",
                        help="ResNet: the explained layer (default layer4)")
    args = parser.parse_args()
    if args.split != "layer4" and args.arch.startswith("vgg"):
        parser.error("--split applies to ResNets; a VGG is split after its last ReLU")
    model = build(args.arch, args.weights, args.num_classes, args.split).eval()
    torch.jit.script(model).save(args.out)
    print(f"wrote {args.out}: features -> head split of {args.arch} at {args.split}")


if __name__ == "__main__":
    main()
