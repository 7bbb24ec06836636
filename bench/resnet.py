# bench/resnet (reference side): torchvision ResNet training and eval throughput, fp32.
# Prints one JSON line per case: {"torch": version, "results": {"name": {"train": img/s, "eval": img/s}}}.
import argparse, contextlib, json, time
import torch
import torch.nn.functional as F
import torchvision

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, required=True)
p.add_argument('--cases', required=True)  # "resnet50:224:16,resnet18:64:64"
p.add_argument('--steps', type=int, default=5)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--bf16', action='store_true', help='bf16 autocast and channels_last, as lsr --precision bf16')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


results = {}
for case in a.cases.split(','):
    name, size, batch = case.split(':')
    size, batch = int(size), int(batch)
    model = getattr(torchvision.models, name)(num_classes=176)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 176, (batch,))
    if a.bf16:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    cast = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext
    model.train()
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        with cast():
            logits = model(x)
        F.cross_entropy(logits.float(), y, label_smoothing=0.1).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    train = batch / median(times[a.warmup:])
    model.eval()
    times = []
    with torch.inference_mode(), cast():
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    results[case] = {'train': train, 'eval': batch / median(times[a.warmup:])}
print(json.dumps({'torch': torch.__version__, 'results': results}))
