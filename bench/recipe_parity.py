# The PyTorch twin of `lsr compare` on small images: a plain torchvision script with the usual
# small-image recipe (random crop after zero padding, horizontal flip, the training set's own mean
# and std, no resize), the same CIFAR-style ResNet-20, optimizer, schedule and split as lsr's
# defaults, once per seed and label-smoothing value. It keeps the epoch with the best validation
# accuracy (as lsr's best.safetensors) and prints its test accuracy, NLL and ECE as one JSON line.
#   python3 bench/recipe_parity.py --data DIR --splits splits.json --test DIR/test.csv
#       --epochs 15 --batch-size 128 --seeds 0,1,2 --smoothings 0,0.1 [--precision fp32|bf16]
import argparse
import copy
import csv
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T
from torchvision.models.resnet import BasicBlock


def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, 3, stride, 1, bias=False)


class ResNet20(nn.Module):
    """He et al. 2016's CIFAR ResNet-20, 1×1-conv shortcuts (option B), torchvision's init."""

    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        planes_in = 16
        stages = []
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for i in range(3):
                s = stride if i == 0 else 1
                down = None
                if s != 1 or planes_in != planes:
                    down = nn.Sequential(nn.Conv2d(planes_in, planes, 1, s, bias=False), nn.BatchNorm2d(planes))
                blocks.append(BasicBlock(planes_in, planes, s, down))
                planes_in = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def features(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def logits(model, x, autocast):
    # lsr's bf16 policy: autocast for the body, the classifier head in fp32 on the pooled features
    # (PyTorch's own autocast would run the head in bf16).
    if not autocast:
        return model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = model.features(x.contiguous(memory_format=torch.channels_last))
    return model.fc(h.float())


def read_csv(path):
    root = os.path.dirname(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [os.path.join(root, r["image"]) for r in rows], [r["label"] for r in rows]


class Images(torch.utils.data.Dataset):
    def __init__(self, paths, labels, transform, mode):
        self.images = [Image.open(p).convert(mode) for p in paths]
        self.labels = labels
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def statistics(images):
    x = torch.stack([T.functional.to_tensor(im) for im in images]).double()
    mean = x.mean(dim=(0, 2, 3))
    std = (x.pow(2).mean(dim=(0, 2, 3)) - mean.pow(2)).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def outputs(model, loader, autocast):
    model.eval()
    outs, labels = [], []
    with torch.no_grad():
        for x, y in loader:
            outs.append(logits(model, x, autocast).float())
            labels.append(y)
    return torch.cat(outs), torch.cat(labels)


def metrics(logits, labels, bins=15):
    logits = logits.double()
    p = logits.softmax(1)
    conf, pred = p.max(1)
    correct = pred.eq(labels).double()
    # Equal-width bins (lo, hi], the first including 0 (as lsr's and Guo et al.'s).
    b = (conf * bins).ceil().long().sub(1).clamp(0, bins - 1)
    ece = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            ece += m.double().mean().item() * abs(correct[m].mean().item() - conf[m].mean().item())
    return {"accuracy": correct.mean().item(), "nll": F.cross_entropy(logits, labels).item(), "ece": ece}


def run(args, seed, smoothing, paths, labels, split, test):
    torch.manual_seed(seed)
    train_paths = [paths[i] for i in split["train"]]
    train_labels = [labels[i] for i in split["train"]]
    mode = "L" if all(Image.open(p).mode == "L" for p in train_paths[:64]) else "RGB"
    probe = [Image.open(p).convert(mode) for p in train_paths]
    side = max(max(im.size) for im in probe[:64])
    mean, std = statistics(probe)
    normalize = [T.ToTensor(), T.Normalize(mean, std)]
    pad = max(1, round(side / 8 + 1e-9))  # an eighth of the side, rounded half up (as lsr's)
    train_tf = T.Compose([T.RandomCrop(side, padding=pad), T.RandomHorizontalFlip(), *normalize])
    eval_tf = T.Compose(normalize)
    g = torch.Generator().manual_seed(seed)
    train_set = Images(train_paths, train_labels, train_tf, mode)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, drop_last=len(train_set) > args.batch_size, generator=g
    )
    val = Images([paths[i] for i in split["val"]], [labels[i] for i in split["val"]], eval_tf, mode)
    val_loader = torch.utils.data.DataLoader(val, batch_size=256)
    test_loader = torch.utils.data.DataLoader(Images(test[0], test[1], eval_tf, mode), batch_size=256)

    model = ResNet20(args.classes, 1 if mode == "L" else 3)
    autocast = args.precision == "bf16"
    if autocast:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    best, best_state, start = -1.0, None, time.time()
    for epoch in range(args.epochs):
        model.train()
        for x, y in train_loader:
            loss = F.cross_entropy(logits(model, x, autocast), y, label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        acc = metrics(*outputs(model, val_loader, autocast))["accuracy"]
        if acc >= best:  # ties to the later epoch, as lsr's best checkpoint
            best, best_state = acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return {
        "seed": seed,
        "smoothing": smoothing,
        "side": side,
        "pad": pad,
        "channels": 1 if mode == "L" else 3,
        "mean": mean,
        "std": std,
        "valAccuracy": best,
        "test": metrics(*outputs(model, test_loader, autocast)),
        "seconds": time.time() - start,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--splits", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--smoothings", default="0,0.1")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths, names = read_csv(os.path.join(args.data, "train.csv"))
    classes = sorted(set(names))  # code-point order, as lsr's vocabulary
    args.classes = len(classes)
    index = {c: k for k, c in enumerate(classes)}
    labels = [index[n] for n in names]
    test_paths, test_names = read_csv(args.test)
    test = (test_paths, [index[n] for n in test_names])
    with open(args.splits) as f:
        splits = json.load(f)
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for eps in [float(e) for e in args.smoothings.split(",")]:
            r = run(args, seed, eps, paths, labels, splits[str(seed)], test)
            print(f"torch seed {seed} ε {eps}: test accuracy {r['test']['accuracy']:.4f} ({r['seconds']:.0f} s)", flush=True, file=sys.stderr)
            runs.append(r)
    print(json.dumps({"torch": torch.__version__, "precision": args.precision, "runs": runs}))


if __name__ == "__main__":
    main()
