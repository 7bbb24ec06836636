# The small CNN of examples/small-cnn.ts in PyTorch: one training step (forward, cross-entropy,
# backward, SGD-momentum update) timed the same way as bench/overhead.ts. Prints JSON.
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, required=True)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--steps", type=int, default=200)
p.add_argument("--warmup", type=int, default=20)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

class SmallCnn(nn.Module):
    def __init__(self, classes=4, channels=1, size=28):
        super().__init__()
        self.c1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * (size // 4) ** 2, classes)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(torch.flatten(x, 1))

net = SmallCnn()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(a.batch, 1, 28, 28)
y = torch.arange(a.batch) % 4

def step():
    loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)

for _ in range(a.warmup):
    step()
# The median step time: robust to the other core's noise on a small machine.
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"msPerStep": times[len(times) // 2], "threads": torch.get_num_threads(), "torch": torch.__version__}))
