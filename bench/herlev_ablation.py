"""Which from-scratch defaults earn their place: three seeds on the Herlev study's slide-grouped folds.

The image model of the study (`r18-96-ls` of `bench/herlev_recipe.py`: resnet18 from random weights, 96 px, 20
one-cycle epochs at lr 3e-3, batch 32, label smoothing 0.1, `fit_backbone`'s defaults otherwise) is trained with each
variant below, seeds 0, 1 and 2, on the five folds (`herlev_folds`; fold k tests, the next validates, three train).
Every run keeps its best epoch (`keep='best'`, by validation macro F1) and also the weights of its last, so the two are
compared on the same runs at no cost.

Variants (one setting changed each):
- `base`: as above (`CytoAugment`, zero padding to a square, label smoothing 0.1, best epoch);
- `fastai-aug`: fastai's `aug_transforms()` at its defaults (the textbook's) instead of `CytoAugment`;
- `no-ls`: no label smoothing (`--variants base fastai-aug no-ls` to run it).

Prints, per variant, 7-class macro F1, accuracy and normal/abnormal accuracy pooled over the folds, averaged over the
seeds (and the spread of the seeds), and the paired difference to `base` averaged over seeds with a 95 % interval from
1,000 bootstrap resamples over slides. Saves each run's test probabilities (best and last epoch) under --out, so a
killed run resumes; writes `ablation.json`.

    nice -n 10 python bench/herlev_ablation.py [--variants base fastai-aug] [--seeds 0 1 2] [--out runs/herlev-ablation]
"""
import argparse, copy, json, shutil, sys, time
from pathlib import Path
import numpy as np
from fastai.callback.core import Callback
from fastai.vision.augment import aug_transforms
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args, scores, CANDIDATES, epoch_seconds
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import HERLEV_BINARY
from cervix_fastai.evaluate.metrics import bootstrap_ci, macro_f1, roll_up
from fastai.torch_core import set_seed
from cervix_fastai.models import norm_stats
from cervix_fastai.train.backbone import fit_backbone, split_preds, manifest_dls
from cervix_fastai.train.cv import fold_manifest

ROOT = Path(__file__).resolve().parents[1]
BASE = dict(CANDIDATES['r18-96-ls'])
VARIANTS = {'base': {}, 'fastai-aug': dict(aug='fastai'), 'no-ls': dict(label_smoothing=0.)}

class KeepLast(Callback):
    "The weights after the last epoch trained (the run then loads its best epoch)"
    def after_epoch(self): self.sd = copy.deepcopy(self.learn.model.state_dict())

def _save(f:Path, p:np.ndarray):
    def w(t):
        with open(t, 'wb') as fh: np.save(fh, p)
    f.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(f, w)

def run(df, variant:str, seed:int, k:int, out:Path, threads:int) -> dict:
    "Test probabilities of the best and the last epoch of one fold's run (saved, reused)"
    d = out/variant/f'seed{seed}'/f'fold{k}'
    if not (d/'best.npy').exists():
        shutil.rmtree(d/'run', ignore_errors=True)  # a run killed half-way starts again (its last epoch's weights were never saved)
        dk = fold_manifest(df, 'fold', k)
        kw = {**BASE, **VARIANTS[variant]}
        aug = aug_transforms() if kw.pop('aug', True) == 'fastai' else True  # fastai's defaults, as the textbook; else `CytoAugment`
        set_seed(seed, reproducible=True)
        dls = manifest_dls(dk, size=kw['size'], bs=kw['bs'], stats=norm_stats(kw['arch']), aug=aug, seed=seed)  # (a list of transforms: DataLoaders by hand)
        keep = KeepLast()
        res = fit_backbone(dls, run_dir=d/'run', seed=seed, threads=threads, quiet=True, export=False, cbs=[keep], **kw)
        _save(d/'last.npy', _preds(res, dk, keep.sd))
        _save(d/'best.npy', split_preds(res.learn, dk, 'test')[0])
    return {w: np.load(d/f'{w}.npy') for w in ('best', 'last')}

def _preds(res, dk, sd) -> np.ndarray:
    best = copy.deepcopy(res.learn.model.state_dict())
    res.learn.model.load_state_dict(sd)
    p = split_preds(res.learn, dk, 'test')[0]
    res.learn.model.load_state_dict(best)
    return p

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--variants', nargs='*', default=['base', 'fastai-aug'], choices=list(VARIANTS))
    ap.add_argument('--seeds', nargs='*', type=int, default=[0, 1, 2])
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-ablation')
    a, df = herlev_args(ap)
    if 'base' not in a.variants: raise SystemExit('--variants must include base: every variant is compared with it')
    vocab = sorted(df.label.unique())
    targs, groups = df.label.map({v: i for i, v in enumerate(vocab)}).to_numpy(), df.group.astype(str).to_numpy()
    t0 = time.perf_counter()
    probs = {}  # (variant, pick) → seeds × cells × classes
    for s in a.seeds:  # seed by seed: a run stopped early still pairs every variant on the seeds it finished
        for v in a.variants:
            ps = {'best': np.zeros((len(df), len(vocab))), 'last': np.zeros((len(df), len(vocab)))}
            for k in sorted(df.fold.unique()):
                r = run(df, v, s, k, a.out, a.threads)
                for w in ps: ps[w][(df.fold == k).to_numpy()] = r[w]
            for w in ps: probs.setdefault((v, w), []).append(ps[w])
            print(f'{v} seed {s} done ({time.perf_counter() - t0:.0f} s)', flush=True)
    binary = lambda p: roll_up(p, targs, vocab, HERLEV_BINARY)
    bt = binary(probs[('base', 'best')][0])[1]

    def gain(P, R) -> tuple:
        "Seed-averaged macro F1 and normal/abnormal accuracy of runs `P` minus those of `R`, paired cell by cell, with intervals over slides"
        n = len(P)
        both = np.concatenate([np.stack([p.argmax(1) for p in P], 1), np.stack([p.argmax(1) for p in R], 1)], 1)
        f1 = lambda t, q: np.mean([macro_f1(t, q[:, i]) for i in range(n)]) - np.mean([macro_f1(t, q[:, n + i]) for i in range(n)])
        bboth = np.concatenate([np.stack([binary(p)[0].argmax(1) for p in P], 1), np.stack([binary(p)[0].argmax(1) for p in R], 1)], 1)
        acc = lambda t, q: np.mean(q[:, :n] == t[:, None]) - np.mean(q[:, n:] == t[:, None])
        return (float(f1(targs, both)), list(bootstrap_ci(targs, both, f1, groups=groups)),
                float(acc(bt, bboth)), list(bootstrap_ci(bt, bboth, acc, groups=groups)))

    rows = []
    for (v, w), P in probs.items():
        sc = [scores(p, targs, vocab, groups) for p in P]
        g, gc, b, bc = gain(P, probs[('base', 'best')])  # against the reference: CytoAugment, best epoch (the defaults before)
        r = dict(variant=v, pick=w, seeds=a.seeds, f1_macro=float(np.mean([x['f1'] for x in sc])), f1_seeds=[round(x['f1'], 3) for x in sc],
                 accuracy=float(np.mean([x['acc'] for x in sc])), binary_acc=float(np.mean([x['bin_acc'] for x in sc])),
                 f1_gain=g, f1_gain_ci=gc, binary_gain=b, binary_gain_ci=bc)
        if v != 'base':  # and against CytoAugment at the same epoch: the augmentation alone
            r.update(zip(('f1_vs_base', 'f1_vs_base_ci', 'binary_vs_base', 'binary_vs_base_ci'), gain(P, probs[('base', w)])))
        rows.append(r)
        print(f"| {v} | {w} | {r['f1_macro']:.3f} ({', '.join(f'{x:.3f}' for x in r['f1_seeds'])}) | {g:+.3f} [{gc[0]:+.3f}, {gc[1]:+.3f}] | "
              f"{r['accuracy']:.3f} | {r['binary_acc']:.3f} | {b:+.3f} [{bc[0]:+.3f}, {bc[1]:+.3f}] |"
              + (f" vs base {w}: F1 {r['f1_vs_base']:+.3f} [{r['f1_vs_base_ci'][0]:+.3f}, {r['f1_vs_base_ci'][1]:+.3f}], binary {r['binary_vs_base']:+.3f} "
                 f"[{r['binary_vs_base_ci'][0]:+.3f}, {r['binary_vs_base_ci'][1]:+.3f}]" if 'f1_vs_base' in r else ''), flush=True)
    logs = [a.out/v/f'seed{s}'/f'fold{k}'/'run'/'history.csv' for v in a.variants for s in a.seeds for k in sorted(df.fold.unique())]
    train = sum(epoch_seconds(h) for h in logs if h.exists())  # the training epochs' own time, however many sessions the runs took
    atomic_write(a.out/'ablation.json', json.dumps(dict(base=BASE, variants={v: VARIANTS[v] for v in a.variants}, rows=rows,
                                                       seconds=round(time.perf_counter() - t0), train_seconds=round(train)), indent=1))

if __name__ == '__main__':
    main()
