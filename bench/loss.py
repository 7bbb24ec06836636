# bench/loss (reference side): PyTorch's F.cross_entropy(label_smoothing=0.1), forward + backward,
# median ms per size. Prints one JSON line: {"torch": version, "ms": {"NxC": ms}}.
import argparse, json, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, required=True)
p.add_argument('--sizes', required=True)  # "256x176,4096x1000"
p.add_argument('--reps', type=int, default=5)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
ms = {}
for size in a.sizes.split(','):
    n, c = map(int, size.split('x'))
    x = torch.randn(n, c, requires_grad=True)
    y = torch.randint(0, c, (n,))
    times = []
    for _ in range(a.reps + 1):
        t0 = time.perf_counter()
        F.cross_entropy(x, y, label_smoothing=0.1).backward()
        times.append((time.perf_counter() - t0) * 1e3)
        x.grad = None
    times = sorted(times[1:])
    ms[size] = times[len(times) // 2]
print(json.dumps({'torch': torch.__version__, 'ms': ms}))
