package dev.dropkit.examples.jit;

/**
 * The Python (PyTorch) definitions of the models the TorchScript example and benchmark export, in one
 * place: the same architectures as dropkit's {@code Mlp(784, 512, 2, 10)} with dropout 0.5 and
 * {@code ResNet.small(...)} with torchvision's {@code Bottleneck}. A script that exports them starts
 * with {@link #SOURCE} and adds its own lines; the classes then live in the script's {@code __main__},
 * which libtorch names {@code __torch__.Mlp} and {@code __torch__.SmallResNet}.
 *
 * <p>Submodule names are part of the contract: the rewrites and reports address {@code fc1},
 * {@code drop1}, {@code layer1.0.conv1} and so on, so they match PyTorch's own ResNet.
 */
public final class PythonModels {
    private PythonModels() {}

    /**
     * Defines {@code Mlp()} (784-512-512-10, ReLU, dropout 0.5 after each hidden layer) and
     * {@code SmallResNet(layers, width, in_channels, classes)} (a 3x3 stem, one stage of Bottlenecks per
     * entry of {@code layers} named {@code layer1}, {@code layer2}, ... up to four, global average pooling,
     * {@code fc}). Imports {@code sys}, {@code torch}, {@code nn} and {@code F} for the lines that follow.
     */
    public static final String SOURCE = """
            import sys, torch, torch.nn as nn, torch.nn.functional as F
            from torchvision.models.resnet import Bottleneck
            class Mlp(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 512)
                    self.drop1 = nn.Dropout(0.5)
                    self.fc2 = nn.Linear(512, 512)
                    self.drop2 = nn.Dropout(0.5)
                    self.out = nn.Linear(512, 10)
                def forward(self, x):
                    x = self.drop1(F.relu(self.fc1(x)))
                    return self.out(self.drop2(F.relu(self.fc2(x))))
            class SmallResNet(nn.Module):
                def __init__(self, layers, width, in_channels, classes):
                    super().__init__()
                    assert 1 <= len(layers) <= 4
                    self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
                    self.bn1 = nn.BatchNorm2d(width)
                    inplanes = width
                    for s, n in enumerate(layers):
                        planes = width * 2 ** s
                        blocks = []
                        for i in range(n):
                            stride = 2 if s > 0 and i == 0 else 1
                            down = None
                            if stride != 1 or inplanes != planes * 4:
                                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                                     nn.BatchNorm2d(planes * 4))
                            blocks.append(Bottleneck(inplanes, planes, stride, down))
                            inplanes = planes * 4
                        self.add_module('layer%d' % (s + 1), nn.Sequential(*blocks))
                    for s in range(len(layers), 4):
                        setattr(self, 'layer%d' % (s + 1), None)  # scripting prunes the branches below
                    self.fc = nn.Linear(inplanes, classes)
                def forward(self, x):
                    x = F.relu(self.bn1(self.conv1(x)))
                    if self.layer1 is not None:
                        x = self.layer1(x)
                    if self.layer2 is not None:
                        x = self.layer2(x)
                    if self.layer3 is not None:
                        x = self.layer3(x)
                    if self.layer4 is not None:
                        x = self.layer4(x)
                    return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
            """;
}
