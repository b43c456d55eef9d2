"""Exports small TorchScript fixtures for dropkit's jit tests.

Usage: /usr/bin/python3 make_models.py OUT_DIR

Writes mlp_scripted.pt (nn.Dropout modules plus a functional F.dropout), resnet_scripted.pt
(BasicBlock residual blocks; torchvision's when installed, a look-alike otherwise), mlp_traced.pt
(torch.jit.trace of a model with dropout), resnet_traced.pt (the BasicBlock net traced in eval mode),
shared_branch_scripted.pt (residual blocks written shortcut-first, their branch read again after the sum),
and with torchvision: bottleneck_scripted.pt (torchvision Bottleneck blocks and an nn.Dropout2d),
convnext_sd_scripted.pt (torchvision ConvNeXt CNBlocks, which hold torchvision.ops.StochasticDepth) and
mlp_mobile.ptl (a lite-interpreter file, which TorchScript's loader must reject cleanly).
Seeds are fixed so runs agree.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    from torchvision.models.resnet import BasicBlock
except ImportError:  # Debian's python3-torchvision may be absent: same structure, same class name.
    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.drop1 = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 32)
        self.drop2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(32, 4)

    def forward(self, x):
        x = self.drop1(F.relu(self.fc1(x)))
        x = self.drop2(F.relu(self.fc2(x)))
        x = F.dropout(x, p=0.1, training=self.training)
        return self.fc3(x)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, down))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class SharedBranchBlock(nn.Module):
    """A residual block written the other way round: shortcut first, and the branch read again after the sum."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, 1, 1)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        y = x + h
        return y * torch.sigmoid(h.mean())


class SharedBranchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, 1, 1)
        self.blocks = nn.Sequential(SharedBranchBlock(), SharedBranchBlock())

    def forward(self, x):
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class TinyBottleneckNet(nn.Module):
    def __init__(self):
        from torchvision.models.resnet import Bottleneck
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.drop = nn.Dropout2d(0.1)
        self.layer1 = nn.Sequential(Bottleneck(16, 4), Bottleneck(16, 4))
        down = nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False), nn.BatchNorm2d(32))
        self.layer2 = nn.Sequential(Bottleneck(16, 8, 2, down), Bottleneck(32, 8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(self.drop(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class TinyConvNeXt(nn.Module):
    def __init__(self):
        from torchvision.models.convnext import CNBlock
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, 4)
        self.blocks = nn.Sequential(*[CNBlock(8, 1e-6, 0.05 * (i + 1)) for i in range(3)])
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.jit.script(Mlp().eval()).save(os.path.join(out, "mlp_scripted.pt"))
    torch.jit.script(TinyResNet().eval()).save(os.path.join(out, "resnet_scripted.pt"))
    traced = torch.jit.trace(Mlp().train(), torch.randn(2, 16), check_trace=False)
    traced.save(os.path.join(out, "mlp_traced.pt"))
    torch.jit.trace(TinyResNet().eval(), torch.randn(2, 3, 16, 16)).save(os.path.join(out, "resnet_traced.pt"))
    torch.jit.script(SharedBranchNet().eval()).save(os.path.join(out, "shared_branch_scripted.pt"))
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return
    torch.jit.script(TinyBottleneckNet().eval()).save(os.path.join(out, "bottleneck_scripted.pt"))
    torch.jit.script(TinyConvNeXt().eval()).save(os.path.join(out, "convnext_sd_scripted.pt"))
    torch.jit.script(Mlp().eval())._save_for_lite_interpreter(os.path.join(out, "mlp_mobile.ptl"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_models.py OUT_DIR")
    main(sys.argv[1])
