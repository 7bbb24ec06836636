# bench/data (reference side): torchvision ImageFolder + DataLoader, RandomResizedCrop(224) + flip +
# normalize, batch 32; images/s over the second of two epochs for each worker count.
import argparse, json, time
import torch
from torchvision import datasets, transforms

p = argparse.ArgumentParser()
p.add_argument('--root', required=True)
p.add_argument('--workers', default='1,2')
p.add_argument('--threads', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
tf = transforms.Compose([
    transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
])
ds = datasets.ImageFolder(a.root, tf)
out = {}
for w in map(int, a.workers.split(',')):
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=w, persistent_workers=w > 0)
    for epoch in range(2):
        t0 = time.perf_counter()
        n = sum(x.shape[0] for x, _ in loader)
        out[str(w)] = n / (time.perf_counter() - t0)
print(json.dumps({'torch': torch.__version__, 'imgPerSec': out}))
