# The PyTorch reference for `lsr compare` on a classify-leaves-shaped folder (issue 16's GPU
# timing): a plain script with lsr's defaults for a 224² ResNet-50 from scratch, one run per
# label-smoothing value (same seed: same initial weights and batch order), timed end to end.
#   lsr's defaults replicated: SGD momentum 0.9, lr 0.1 × batch/256 (--lr 0, Goyal et al.), weight
#   decay 5e-4 on every parameter, CosineAnnealingLR over the epochs (stepped per epoch), a stratified
#   10% validation split, the last incomplete batch dropped; torchvision's ImageNet recipe
#   (RandomResizedCrop scale 0.08–1 and a horizontal flip; evaluation: resize to 256, centre crop
#   224; ImageNet's mean and std); --precision auto: bf16 autocast + channels_last on a bf16 GPU
#   (the classifier head in fp32, as lsr), fp32 elsewhere (cuDNN's TF32 convolutions); cudnn.benchmark.
# It runs whether or not torchvision and PIL are installed: without torchvision, a plain-torch
# ResNet-50 (torch_models.py) and plain-torch transforms; without PIL, torchvision.io's decoder or
# libjpeg-turbo through ctypes (LEAVES_TURBOJPEG=path, else gpu-carry/turbojpeg or the system's).
# LEAVES_NO_TORCHVISION=1 / LEAVES_NO_PIL=1 / LEAVES_NO_TVIO=1 force the fallbacks (tests).
# Prints JSON lines: the setting, one per epoch, one per run, then the total.
#   python3 bench/leaves_pytorch.py DIR [--epochs 10] [--batch-size 256] [--workers N]
#       [--smoothing 0,0.1] [--image-size 224] [--device cuda|cpu] [--precision auto|fp32|bf16]
import argparse
import contextlib
import csv
import ctypes
import ctypes.util
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from torch_models import resnet, torchvision_models  # noqa: E402

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def emit(**o):
    print(json.dumps(o), flush=True)


# ---- decoding: PIL, torchvision.io or libjpeg-turbo (ctypes) --------------------------------


def try_pil():
    if os.environ.get("LEAVES_NO_PIL") == "1":
        return None
    try:
        from PIL import Image

        return Image
    except Exception:
        return None


def try_tvio():
    if os.environ.get("LEAVES_NO_TORCHVISION") == "1" or os.environ.get("LEAVES_NO_TVIO") == "1":
        return None
    try:
        import torchvision.io as io

        # Its JPEG decoder is an optional extension: check that it is there.
        io.decode_jpeg(io.encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8)))
        return io
    except Exception:
        return None


class TurboJpeg:
    """libjpeg-turbo's TurboJPEG API (the same library lsr decodes with), one handle per process."""

    TJPF_RGB = 0

    def __init__(self):
        candidates = [
            os.environ.get("LEAVES_TURBOJPEG"),
            os.path.join(here, "..", "gpu-carry", "turbojpeg", "lib", "libturbojpeg.so.0"),
            ctypes.util.find_library("turbojpeg"),
            "libturbojpeg.so.0",
        ]
        self.lib, errors = None, []
        for c in [c for c in candidates if c]:
            try:
                self.lib = ctypes.CDLL(c)
                self.path = c
                break
            except OSError as e:
                errors.append(str(e))
        if self.lib is None:
            raise RuntimeError("libturbojpeg was not found (set LEAVES_TURBOJPEG): " + "; ".join(errors))
        L = self.lib
        L.tjInitDecompress.restype = ctypes.c_void_p
        L.tjDestroy.argtypes = [ctypes.c_void_p]
        L.tjGetErrorStr2.restype = ctypes.c_char_p
        L.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
        pint = ctypes.POINTER(ctypes.c_int)
        L.tjDecompressHeader3.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, pint, pint, pint, pint]
        L.tjDecompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.handle, self.pid = None, None

    def decode(self, data):
        # A DataLoader worker is a fork: it makes its own handle.
        if self.pid != os.getpid():
            self.handle, self.pid = self.lib.tjInitDecompress(), os.getpid()
        w, h, sub, cs = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        if self.lib.tjDecompressHeader3(self.handle, data, len(data), ctypes.byref(w), ctypes.byref(h), ctypes.byref(sub), ctypes.byref(cs)) != 0:
            raise ValueError("not a readable JPEG: " + self.lib.tjGetErrorStr2(self.handle).decode())
        out = torch.empty(h.value, w.value, 3, dtype=torch.uint8)
        if self.lib.tjDecompress2(self.handle, data, len(data), out.data_ptr(), w.value, 0, h.value, self.TJPF_RGB, 0) != 0:
            raise ValueError("corrupt JPEG: " + self.lib.tjGetErrorStr2(self.handle).decode())
        return out.permute(2, 0, 1)


# ---- transforms on uint8 CHW tensors (torchvision's, in plain torch) -------------------------


def rrc_params(h, w, scale, ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params, with Python's random."""
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return random.randint(0, h - ch), random.randint(0, w - cw), ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resize(x, size):
    """Bilinear with antialiasing (PIL's filter, torchvision's default); x float CHW."""
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]


def normalize(x):
    m = torch.tensor(MEAN).view(3, 1, 1) * 255
    s = torch.tensor(STD).view(3, 1, 1) * 255
    return (x.clamp(0, 255) - m) / s


def plain_train(img, size, scale):
    i, j, h, w = rrc_params(img.shape[1], img.shape[2], (scale, 1.0))
    x = resize(img[:, i : i + h, j : j + w].float(), (size, size))
    if random.random() < 0.5:
        x = x.flip(2)
    return normalize(x)


def plain_eval(img, size):
    h, w = img.shape[1], img.shape[2]
    short = round(size * 256 / 224)
    nh, nw = (short, max(1, int(short * w / h))) if h <= w else (max(1, int(short * h / w)), short)
    x = resize(img.float(), (nh, nw))
    top, left = int(round((nh - size) / 2)), int(round((nw - size) / 2))
    return normalize(x[:, top : top + size, left : left + size])


# ---- the dataset ---------------------------------------------------------------------------


class Images(torch.utils.data.Dataset):
    def __init__(self, paths, labels, train, size, pipeline):
        self.paths, self.labels, self.train, self.size, self.p = paths, labels, train, size, pipeline

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, k):
        return self.p.load(self.paths[k], self.train, self.size), self.labels[k]


class Pipeline:
    """Decoder and transforms by what is installed."""

    def __init__(self, scale):
        self.scale = scale
        self.Image = try_pil()
        tv = torchvision_models()
        self.T = None
        if tv is not None and self.Image is not None:
            from torchvision import transforms as T

            self.T = T
        self.io = None if self.Image is not None else try_tvio()
        self.tj = TurboJpeg() if self.Image is None and self.io is None else None
        self.decoder = "PIL" if self.Image else "torchvision.io" if self.io else f"libjpeg-turbo via ctypes ({self.tj.path})"
        self.transforms = "torchvision.transforms (PIL)" if self.T else "plain torch"
        self._tv = {}

    def load(self, path, train, size):
        if self.T is not None:
            key = (train, size)
            if key not in self._tv:
                T = self.T
                head = [T.RandomResizedCrop(size, scale=(self.scale, 1.0)), T.RandomHorizontalFlip()] if train else [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
                self._tv[key] = T.Compose(head + [T.ToTensor(), T.Normalize(MEAN, STD)])
            with self.Image.open(path) as im:
                return self._tv[key](im.convert("RGB"))
        if self.Image is not None:
            with self.Image.open(path) as im:
                im = im.convert("RGB")
                img = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(im.height, im.width, 3).permute(2, 0, 1)
        elif self.io is not None:
            img = self.io.decode_jpeg(self.io.read_file(path), mode=self.io.ImageReadMode.RGB)
        else:
            with open(path, "rb") as f:
                img = self.tj.decode(f.read())
        return plain_train(img, size, self.scale) if train else plain_eval(img, size)


def read_train_csv(root):
    with open(os.path.join(root, "train.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    return [os.path.join(root, r["image"]) for r in rows], [index[r["label"]] for r in rows], classes


def stratified_split(labels, fraction, seed):
    """Per class, a seeded shuffle, the first round(n × fraction) (at least 1) to validation: lsr's rule, not its exact draw."""
    by = {}
    for i, c in enumerate(labels):
        by.setdefault(c, []).append(i)
    train, val = [], []
    for c, members in sorted(by.items()):
        members = members[:]
        random.Random(seed * 1000003 + c).shuffle(members)
        k = round(len(members) * fraction)
        if fraction > 0 and k == 0 and len(members) >= 2:
            k = 1
        val += members[:k]
        train += members[k:]
    return sorted(train), sorted(val)


def worker_init(_):
    torch.set_num_threads(1)
    info = torch.utils.data.get_worker_info()
    random.seed(info.seed % 2**32)


def features(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    return torch.flatten(model.avgpool(x), 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0, help="0: lsr's auto, 0.1 × batch/256")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--smoothing", default="0,0.1")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--rrc-scale", type=float, default=0.08)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="intra-op threads of the main process (0: PyTorch's default)")
    a = p.parse_args()
    started = time.perf_counter()
    device = torch.device(a.device)
    gpu = device.type == "cuda"
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if gpu:
        torch.backends.cudnn.benchmark = True
    bf16 = a.precision == "bf16" or (a.precision == "auto" and gpu and torch.cuda.is_bf16_supported())
    lr = a.lr if a.lr > 0 else 0.1 * a.batch_size / 256
    paths, labels, classes = read_train_csv(a.data)
    train_idx, val_idx = stratified_split(labels, a.val_fraction, a.seed)
    pipeline = Pipeline(a.rrc_scale)
    model_source = resnet(a.model, len(classes))[1]
    emit(
        setting=dict(
            torch=torch.__version__,
            device=str(device),
            gpu=torch.cuda.get_device_name(device) if gpu else None,
            model=f"{a.model} ({model_source})",
            decoder=pipeline.decoder,
            transforms=pipeline.transforms,
            precision="bf16 autocast + channels_last, fp32 head" if bf16 else "fp32" + (" (TF32 convolutions)" if gpu else ""),
            classes=len(classes),
            train=len(train_idx),
            val=len(val_idx),
            batch=a.batch_size,
            lr=lr,
            weight_decay=a.weight_decay,
            epochs=a.epochs,
            workers=a.workers,
            image_size=a.image_size,
        )
    )
    train_set = Images([paths[i] for i in train_idx], [labels[i] for i in train_idx], True, a.image_size, pipeline)
    val_set = Images([paths[i] for i in val_idx], [labels[i] for i in val_idx], False, a.image_size, pipeline)
    loader_kw = dict(num_workers=a.workers, pin_memory=gpu, worker_init_fn=worker_init if a.workers > 0 else None, persistent_workers=a.workers > 0)
    runs = []
    for eps in [float(s) for s in a.smoothing.split(",")]:
        run_started = time.perf_counter()
        torch.manual_seed(a.seed)
        random.seed(a.seed)
        model = resnet(a.model, len(classes))[0].to(device)
        if bf16:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=a.momentum, weight_decay=a.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs)
        g = torch.Generator()
        g.manual_seed(a.seed)
        train_loader = torch.utils.data.DataLoader(train_set, a.batch_size, shuffle=True, drop_last=len(train_set) > a.batch_size, generator=g, **loader_kw)
        val_loader = torch.utils.data.DataLoader(val_set, a.batch_size, **loader_kw)

        def logits(x):
            if not bf16:
                return model(x)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                h = features(model, x.contiguous(memory_format=torch.channels_last))
            return model.fc(h.float())

        best = 0.0
        for epoch in range(1, a.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = 0
            for x, y in train_loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                out = logits(x)
                loss = F.cross_entropy(out, y, label_smoothing=eps)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * y.shape[0]
                correct += (out.argmax(1) == y).sum()
                seen += y.shape[0]
            lr_used = opt.param_groups[0]["lr"]
            sched.step()
            train_loss, train_acc = loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1)
            t1 = time.perf_counter()
            model.eval()
            vloss = torch.zeros((), device=device)
            vcorrect = torch.zeros((), device=device, dtype=torch.long)
            vseen = 0
            with torch.inference_mode():
                for x, y in val_loader:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                    out = logits(x).float()
                    vloss += F.cross_entropy(out, y, reduction="sum")
                    vcorrect += (out.argmax(1) == y).sum()
                    vseen += y.shape[0]
            val_acc = vcorrect.item() / max(vseen, 1)
            best = max(best, val_acc)
            t2 = time.perf_counter()
            emit(
                run=eps,
                epoch=epoch,
                train_loss=round(train_loss, 5),
                train_accuracy=round(train_acc, 5),
                val_loss=round(vloss.item() / max(vseen, 1), 5),
                val_accuracy=round(val_acc, 5),
                lr=lr_used,
                train_seconds=round(t1 - t0, 2),
                val_seconds=round(t2 - t1, 2),
                images_per_second=round(seen / (t1 - t0), 1),
            )
        seconds = time.perf_counter() - run_started
        runs.append(dict(smoothing=eps, seconds=round(seconds, 2), best_val_accuracy=best, last_val_accuracy=val_acc))
        emit(run_done=eps, seconds=round(seconds, 2), best_val_accuracy=best, last_val_accuracy=val_acc)
        del model, opt, train_loader, val_loader
    emit(total_seconds=round(time.perf_counter() - started, 2), runs=runs)


if __name__ == "__main__":
    main()
