# bench/resnet (reference side): torchvision ResNet training and eval throughput, fp32 or bf16.
# Prints one JSON line per case: {"torch": version, "results": {"name": {"train": img/s, "eval": img/s}}}.
# On a GPU (--device cuda): cudnn.benchmark on (as lsr turns it on), TF32 convolutions in
# fp32 (PyTorch's default), each step timed to torch.cuda.synchronize(). Without torchvision, its
# ResNets' plain-torch twins (torch_models.py).
import argparse, contextlib, json, os, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import resnet  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, required=True)
p.add_argument('--cases', required=True)  # "resnet50:224:16,resnet18:64:64"
p.add_argument('--steps', type=int, default=5)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--bf16', action='store_true', help='bf16 autocast and channels_last, as lsr --precision bf16')
p.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
device = torch.device(a.device)
gpu = device.type == 'cuda'
if gpu:
    torch.backends.cudnn.benchmark = True
sync = (lambda: torch.cuda.synchronize(device)) if gpu else (lambda: None)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


results = {}
for case in a.cases.split(','):
    name, size, batch = case.split(':')
    size, batch = int(size), int(batch)
    model = resnet(name, 176)[0].to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 176, (batch,), device=device)
    if a.bf16:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    cast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext
    model.train()
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        with cast():
            logits = model(x)
        F.cross_entropy(logits.float(), y, label_smoothing=0.1).backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t0)
    train = batch / median(times[a.warmup:])
    model.eval()
    times = []
    with torch.inference_mode(), cast():
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - t0)
    results[case] = {'train': train, 'eval': batch / median(times[a.warmup:])}
    del model, opt, x, y
print(json.dumps({'torch': torch.__version__, 'results': results}))
