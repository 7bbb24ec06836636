# bench/ddp's PyTorch side: one rank of torch DistributedDataParallel (Gloo), or a plain process
# when WORLD_SIZE is unset; resnet18 on random 64x64 images, 1 thread; rank 0 prints
# {"imagesPerSecond": ...} for the global batch.
import json, os, sys, time
import torch, torch.nn.functional as F, torchvision

size, batch, steps, warmup = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), 2
torch.set_num_threads(1)
torch.manual_seed(0)
world = int(os.environ.get('WORLD_SIZE', '1'))
model = torchvision.models.resnet18(num_classes=176)
if 'WORLD_SIZE' in os.environ:
    torch.distributed.init_process_group('gloo')
    model = torch.nn.parallel.DistributedDataParallel(model)
sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, 176, (batch,))
model.train()
times = []
for i in range(warmup + steps):
    t0 = time.perf_counter()
    sgd.zero_grad()
    F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
    sgd.step()
    times.append(time.perf_counter() - t0)
t = sorted(times[warmup:])[len(times[warmup:]) // 2]
if world > 1:
    torch.distributed.barrier()
if int(os.environ.get('RANK', '0')) == 0:
    print(json.dumps({'imagesPerSecond': batch * world / t}))
