"""Accuracy and time: cervix_fastai's `fit_backbone` at its defaults vs the plain fastai recipe, on the same split.

Both train the same architecture from random weights (no ImageNet download) on the same slide-grouped division of
Herlev (`divide_dataset(df, fracs=(0.6, 0.2, 0.2), seed=--seed)`: train rows to train on, valid rows to validate on,
test rows scored once at the end):
- ours: `fit_backbone(df, arch, size=, epochs=, pretrained=False, seed=, quiet=True, lr=None)` (the learning-rate
  finder unless --lr), every other argument at its default (schedule, augmentation, early stopping, the epoch kept, ...);
- fastai: the textbook recipe: a DataBlock with `Resize(size, method='pad', pad_mode='zeros')`, `aug_transforms()` and
  ImageNet normalisation, bs 32, `vision_learner(dls, arch, pretrained=False, metrics=accuracy)`,
  `fit_one_cycle(epochs, 3e-3)`, after `set_seed(seed, reproducible=True)`.
Prints, per side, on the test split: 7-class accuracy and macro F1, binary (normal_* vs the rest, probabilities summed
within each group via `HERLEV_BINARY`) accuracy and macro F1, the epochs actually run (ours may stop early) and the
wall seconds of training (building the DataLoaders through the end of fitting; test predictions excluded); then a
comparison line (ours - fastai). One run per side: on ~140 test cells one cell is ~0.7 points of accuracy.

    nice -n 10 python bench/vs_fastai.py [--only ours|fastai|both] [--arch resnet18] [--size 128] [--epochs 20]
                                         [--seed 0] [--data ../shared/data/herlev]
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
from cervix_fastai.evaluate.metrics import macro_f1
from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, ColReader, ColSplitter, Resize, aug_transforms,
                               Normalize, imagenet_stats, vision_learner, accuracy, set_seed)
import torchvision.models as tvm
from cervix_fastai.data.core import read_herlev, divide_dataset, HERLEV_BINARY
from cervix_fastai.train.backbone import fit_backbone, split_preds

ROOT = Path(__file__).resolve().parents[1]

def scores(probs, targs, vocab):
    "7-class and binary (normal/abnormal, probabilities summed per group) accuracy and macro F1"
    probs, targs = np.asarray(probs), np.asarray(targs)
    pred = probs.argmax(1)
    groups = sorted(set(HERLEV_BINARY.values()))
    member = np.array([[HERLEV_BINARY[c] == g for g in groups] for c in vocab], float)  # class x group
    bprobs, btargs = probs @ member, member[targs].argmax(1)
    bpred = bprobs.argmax(1)
    f1 = macro_f1
    return dict(acc=(pred == targs).mean(), f1=f1(targs, pred), bin_acc=(bpred == btargs).mean(), bin_f1=f1(btargs, bpred))

def run_ours(df, a, tmp):
    run_dir = tmp/'ours'
    t0 = time.perf_counter()
    res = fit_backbone(df, a.arch, size=a.size, epochs=a.epochs, pretrained=False, run_dir=run_dir, seed=a.seed, quiet=True,
                       lr=a.lr)  # none: the learning-rate finder, as measured (the default is now a fixed 3e-3)
    secs = time.perf_counter() - t0
    learn = getattr(res, 'learn', res)
    # counted before predicting: get_preds resets the Recorder's values
    hist = run_dir/'history.csv'  # one row per epoch over all phases (EpochLog)
    epochs = sum(1 for _ in hist.open()) - 1 if hist.exists() else len(learn.recorder.values)
    probs, targs = split_preds(res, df, 'test')
    return scores(probs, targs, list(learn.dls.vocab)), epochs, secs

def fastai_probs(df, arch='resnet18', size=128, epochs=20, seed=0):
    "The textbook fastai recipe trained on the train rows (valid rows: its validation set): test probabilities, targets, vocab, epochs, seconds"
    arch = getattr(tvm, arch)
    vocab = sorted(df.label.astype(str).unique())
    rows = df.assign(label=df.label.astype(str), is_valid=df.split == 'valid')
    t0 = time.perf_counter()
    set_seed(seed, reproducible=True)
    dblock = DataBlock(blocks=(ImageBlock, CategoryBlock(vocab=vocab)), get_x=ColReader('path'), get_y=ColReader('label'),
                       splitter=ColSplitter('is_valid'), item_tfms=Resize(size, method='pad', pad_mode='zeros'),
                       batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    dls = dblock.dataloaders(rows[rows.split.isin(['train', 'valid'])], bs=32, num_workers=0)
    learn = vision_learner(dls, arch, pretrained=False, metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 3e-3)
    secs, n_epochs = time.perf_counter() - t0, len(learn.recorder.values)  # before get_preds, which resets them
    dl = learn.dls.test_dl(rows[rows.split == 'test'], with_labels=True)
    with learn.no_bar(): probs, targs = learn.get_preds(dl=dl)
    return probs.numpy(), targs.numpy(), list(learn.dls.vocab), n_epochs, secs

def run_fastai(df, a):
    probs, targs, vocab, epochs, secs = fastai_probs(df, a.arch, a.size, a.epochs, a.seed)
    return scores(probs, targs, vocab), epochs, secs

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--arch', default='resnet18', help='a torchvision model name (and a cervix_fastai backbone)')
    ap.add_argument('--only', choices=['ours', 'fastai', 'both'], default='both')
    ap.add_argument('--seed', type=int, default=0, help='division and training seed')
    ap.add_argument('--lr', type=float, default=None, help='ours: a fixed learning rate (default: fit_backbone\'s own choice)')
    ap.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev', help='the Herlev folder')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    torch.set_num_threads(a.threads)
    df = divide_dataset(read_herlev(a.data), fracs=(0.6, 0.2, 0.2), seed=a.seed)
    n = df.split.value_counts()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; Herlev {len(df)} cells "
          f"(train {n.get('train', 0)}, valid {n.get('valid', 0)}, test {n.get('test', 0)}), {a.arch} from scratch "
          f"at {a.size} px, {a.epochs} epochs, seed {a.seed}", flush=True)
    print(f"{'':<7} {'acc':>6} {'F1':>6} {'bin acc':>8} {'bin F1':>7} {'epochs':>7} {'seconds':>8}", flush=True)
    out = {}
    with tempfile.TemporaryDirectory(prefix='vs_fastai_') as tmp:
        for side in ('ours', 'fastai'):
            if a.only not in (side, 'both'): continue
            s, ep, secs = run_ours(df, a, Path(tmp)) if side == 'ours' else run_fastai(df, a)
            out[side] = s
            print(f"{side:<7} {s['acc']:>6.3f} {s['f1']:>6.3f} {s['bin_acc']:>8.3f} {s['bin_f1']:>7.3f} {ep:>7d} {secs:>8.1f}", flush=True)
    if len(out) == 2:
        d = {k: out['ours'][k] - out['fastai'][k] for k in out['ours']}
        print(f"ours - fastai: acc {d['acc']:+.3f}, F1 {d['f1']:+.3f}, binary acc {d['bin_acc']:+.3f}, binary F1 {d['bin_f1']:+.3f}")

if __name__ == '__main__': main()
