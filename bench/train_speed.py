"""Training speed: fit_backbone's fastai Learner vs a plain PyTorch loop over the same DataLoader.

Both train the same architecture from the same initial weights on the same `dls.train` (same batches, same on-CPU
augmentation), their epochs interleaved (A B A B ...) so that the machine's drift hits both alike, after one warm-up
epoch each; only the training phase is timed (fastai's validation pass is excluded):
- fastai: `fit_backbone`'s Learner as it is;
- plain: a bare PyTorch loop (forward, cross-entropy, backward, Adam step).
Prints the median images/s of each and the ratio fastai / plain.

    python bench/train_speed.py [--archs resnet18 resnet50] [--size 96] [--epochs 2] [--n-per-class 40]
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import torch, torch.nn.functional as F
from fastai.callback.core import Callback
from cervix_fastai.data.synth import make_synthetic_sipakmed
from cervix_fastai.data.core import read_sipakmed, divide_dataset
import statistics
from cervix_fastai.train.backbone import fit_backbone
from cervix_fastai.models import create_model

class TrainTimer(Callback):
    "Wall time of the training phase of each epoch"
    order = 100
    def __init__(self): self.times = []
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self): self.times.append(time.perf_counter() - self.t0)

def plain_epoch(model, dl, opt):
    model.train()
    t0 = time.perf_counter()
    for xb, yb in dl:  # fastai's tensor subclasses off, as a plain PyTorch user would have them
        xb, yb = xb.as_subclass(torch.Tensor), yb.as_subclass(torch.Tensor)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    return time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--archs', nargs='+', default=['resnet18', 'resnet50'])
    ap.add_argument('--size', type=int, default=96)
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--n-per-class', type=int, default=40)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    tmp = Path(tempfile.mkdtemp())
    div = divide_dataset(read_sipakmed(make_synthetic_sipakmed(tmp/'s', n_per_class=a.n_per_class, progress=False)))
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; {(div.split == "train").sum()} training images '
          f'at {a.size} px, bs {a.bs}, {a.epochs} timed epochs after 1 warm-up')
    print(f"{'arch':<10} {'fastai img/s':>13} {'plain img/s':>12} {'ratio':>6}")
    for arch in a.archs:
        learn = fit_backbone(div, arch, epochs=1, lr=1e-3, bs=a.bs, size=a.size, pretrained=False, schedule='one_cycle',  # (a first warm-up)
                             run_dir=tmp/arch, quiet=True, export=False, seed=0, channels_last=False)  # the plain loop's memory format
        timer = TrainTimer()
        learn.add_cb(timer)
        model = create_model(arch, len(learn.dls.vocab), pretrained=False)
        model.load_state_dict(learn.model.state_dict())
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        plain = []
        for _ in range(1 + a.epochs):
            learn.fit(1, 1e-3)
            plain.append(plain_epoch(model, learn.dls.train, opt))
        n = len(learn.dls.train) * learn.dls.train.bs  # drop_last=True in training
        f_ips, p_ips = n / statistics.median(timer.times[1:]), n / statistics.median(plain[1:])
        print(f'{arch:<10} {f_ips:>13.1f} {p_ips:>12.1f} {f_ips / p_ips:>6.2f}', flush=True)

if __name__ == '__main__': main()
