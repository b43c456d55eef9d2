"""Exports real torchvision models, untouched, for dropkit's "never seen before" rewrite tests.

Usage: /usr/bin/python3 make_zoo.py OUT_DIR

resnet18 (scripted and traced), efficientnet_b0 (scripted; it holds torchvision.ops.StochasticDepth
modules and a classifier nn.Dropout), mobilenet_v3_small (traced in training mode), densenet121 with
drop_rate 0.1 (scripted: F.dropout inside an `if`, its p read from an attribute, in overloaded methods)
and squeezenet1_1 (scripted: nn.Dropout on a 4-D feature map). Random weights, 10 classes; about 140 MB
in all, so they are generated at test time and never committed.
"""
import os
import sys

import torch
import torchvision


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    models = torchvision.models
    torch.jit.script(models.resnet18(num_classes=10).eval()).save(os.path.join(out, "resnet18_scripted.pt"))
    torch.jit.trace(models.resnet18(num_classes=10).eval(), torch.randn(2, 3, 64, 64)).save(
        os.path.join(out, "resnet18_traced.pt"))
    torch.jit.script(models.efficientnet_b0(num_classes=10).eval()).save(os.path.join(out, "efficientnet_b0_scripted.pt"))
    torch.jit.trace(models.mobilenet_v3_small(num_classes=10).train(), torch.randn(2, 3, 64, 64),
                    check_trace=False).save(os.path.join(out, "mobilenet_v3_small_traced.pt"))
    torch.jit.script(models.densenet121(num_classes=10, drop_rate=0.1).eval()).save(os.path.join(out, "densenet121_scripted.pt"))
    torch.jit.script(models.squeezenet1_1(num_classes=10).eval()).save(os.path.join(out, "squeezenet1_1_scripted.pt"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_zoo.py OUT_DIR")
    main(sys.argv[1])
