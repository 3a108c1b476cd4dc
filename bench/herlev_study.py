"""Honest results on real cells: the Herlev study (leakage, votes, image vs morphometry vs fusion, staged transfer,
calibration and TTA, prediction sets), slide-grouped 5-fold cross-validation, CPU, fixed seeds, resumable.

The folds are those of `bench/herlev_recipe.py` (`grouped_kfold(read_herlev(--data), k=5, seed=0)`: the cells of one
slide never sit on two sides); for fold k, fold k is the test split, the next fold validates (best epoch), the other
three train. The image model is the `--protocol` candidate of `herlev_recipe.py` (default: r18-96-ls, the
`small-data-cpu` recipe at half its epochs, so that the whole study fits in about an hour on 2 cores), from random
weights unless `--pretrained` / `--weights FILE` (no ImageNet weights can be downloaded where this was first run).
What each part measures:

1. leakage: the same model and budget on the slide-grouped folds and on random cell-level folds (cells of a slide on
   both sides); 7-class and binary (`HERLEV_BINARY`) accuracy and macro F1, 95 % intervals from a bootstrap over slides.
2. votes: the five models of part 3 as members; hard, soft and weighted votes, the weights for test fold k fitted on
   the held-out predictions of the other four folds (cross-validation on the training folds; fold k never seen).
3. image vs morphometry vs fusion: image CNN, fusion (image + the cell's morphometry from its masks), MLP, gradient
   boosting and logistic regression on the morphometry, the same folds and rows.
4. staged transfer: `--source-epochs` epochs on the synthetic SIPaKMeD-layout set (`make_synthetic_sipakmed`, about as
   many training cells as a Herlev fold), then the protocol's epochs minus those on Herlev, against the protocol's
   epochs on Herlev alone: the same total number of epochs, the same one-cycle schedule.
5. calibration: ECE (15 bins) before and after temperature scaling (T for fold k fitted on the other folds), with
   and without TTA (the four flips).
6. prediction sets (APS, `coverage`): for fold k the threshold from the other folds' cells (temperature applied);
   coverage, mean set size, share referred (set of more than one class, or of both a normal and an abnormal class)
   and accuracy on the cells not referred.

Writes `study.json` (every figure, and the seconds: this run's, and the epochs logged by all its models however many
runs it took), `*.csv` tables and `*.png` plots under `--out/study`; the folds' probabilities and runs stay under
`--out` so that a killed run continues where it stopped (`python tools/results.py` then copies the figures into the
README):

    nice -n 10 python bench/herlev_study.py [--protocol r18-96-ls] [--pretrained] [--weights FILE] [--out runs/herlev]
                                            [--threads 2] [--data ../shared/data/herlev]
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import CANDIDATES, herlev_folds, scores, per_fold, epoch_seconds, by_fold, oof_weighted_vote
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import read_sipakmed, divide_dataset, grouped_kfold, HERLEV_BINARY
from cervix_fastai.evaluate.metrics import ece, fit_temperature, apply_temperature, macro_f1
from cervix_fastai.evaluate.conformal import aps_scores, conformal_threshold, prediction_sets, conformal_summary, file_draws
from cervix_fastai.serve.vote import hard_vote, soft_vote
from cervix_fastai.train.cv import cross_validate, CV_MODELS
from cervix_fastai.data.synth import make_synthetic_sipakmed
from cervix_fastai.train.backbone import fit_backbone

ROOT = Path(__file__).resolve().parents[1]
BOOT = 1000

def row(name, p, cv, **extra) -> dict:
    "One table row: the scores of `p` with their intervals"
    s = scores(p, cv.targs, cv.vocab, cv.groups, BOOT)
    return dict(name=name, **extra, f1_macro=s['f1'], f1_lo=s['f1_ci'][0], f1_hi=s['f1_ci'][1], accuracy=s['acc'],
                acc_lo=s['acc_ci'][0], acc_hi=s['acc_ci'][1], binary_acc=s['bin_acc'], bin_lo=s['bin_ci'][0],
                bin_hi=s['bin_ci'][1], binary_f1=s['bin_f1'])

def log(p): return np.log(np.clip(p, 1e-12, 1))

def calibrated(p, cv) -> np.ndarray:
    "Probabilities after temperature scaling, T for each test fold fitted on the other folds"
    return by_fold(lambda tr, te: apply_temperature(log(te[0]), fit_temperature(log(tr[0]), tr[1])), cv, p, cv.targs)

def leakage(cvg, cvr) -> pd.DataFrame:
    return pd.DataFrame([row('slide-grouped', cvg.probs['image'], cvg), row('random cells', cvr.probs['image'], cvr)])

def gap_ci(cvg, cvr, n_boot=BOOT, seed=0) -> dict:
    "95 % intervals of the leakage gap (random minus grouped), paired: the same resampled slides for both"
    from cervix_fastai.evaluate.metrics import roll_up
    slides = np.unique(cvg.groups)
    idx = {g: np.flatnonzero(cvg.groups == g) for g in slides}
    bin_t = lambda cv: roll_up(cv.probs['image'], cv.targs, cv.vocab, HERLEV_BINARY)
    (bg, btg, _), (br, btr, _) = bin_t(cvg), bin_t(cvr)
    pg, pr, t = cvg.probs['image'].argmax(1), cvr.probs['image'].argmax(1), cvg.targs
    rng, d = np.random.default_rng(seed), {k: [] for k in ('accuracy', 'f1_macro', 'binary_acc')}
    for _ in range(n_boot):
        i = np.concatenate([idx[g] for g in rng.choice(slides, len(slides))])
        d['accuracy'].append((pr[i] == t[i]).mean() - (pg[i] == t[i]).mean())
        d['f1_macro'].append(macro_f1(t[i], pr[i]) - macro_f1(t[i], pg[i]))
        d['binary_acc'].append((br[i].argmax(1) == btr[i]).mean() - (bg[i].argmax(1) == btg[i]).mean())
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in d.items()}

def votes(cv) -> pd.DataFrame:
    P = np.stack([cv.probs[m] for m in CV_MODELS])
    weighted, w = oof_weighted_vote(P, cv)
    rows = [row(m, cv.probs[m], cv, kind='member') for m in CV_MODELS]
    rows += [row('hard vote', hard_vote(P), cv, kind='vote'), row('soft vote', soft_vote(P), cv, kind='vote'),
             row('weighted vote', weighted, cv, kind='vote')]
    mean_w = {m: float(x) for m, x in zip(CV_MODELS, w.mean(0))}
    return pd.DataFrame(rows), mean_w, weighted

def calibration(cv) -> pd.DataFrame:
    rows = []
    for m in ('image', 'fusion'):
        for tta in (False, True):
            p = cv.probs[f'{m}+tta' if tta else m]
            q = calibrated(p, cv)
            nll = lambda x: float(-log(x[np.arange(len(x)), cv.targs]).mean())
            rows.append(dict(model=m, tta=tta, accuracy=float((p.argmax(1) == cv.targs).mean()), f1_macro=macro_f1(cv.targs, p.argmax(1)),
                             ece=ece(p, cv.targs), ece_temperature=ece(q, cv.targs), nll=nll(p), nll_temperature=nll(q)))
    return pd.DataFrame(rows)

def conformal(cv, p, name, draws, coverages=(0.8, 0.9, 0.95)) -> list[dict]:
    "Prediction sets on each test fold from the other folds' cells"
    out = []
    for cov in coverages:
        sets = by_fold(lambda tr, te: prediction_sets(te[0], conformal_threshold(aps_scores(tr[0], tr[1], u=tr[2]), cov), u=te[2]),
                       cv, p, cv.targs, draws)
        for by, mapping in (('class', None), ('normal/abnormal', HERLEV_BINARY)):
            s = conformal_summary(sets, p, cv.targs, cv.vocab, mapping)
            per = [conformal_summary(sets[cv.folds == k], p[cv.folds == k], cv.targs[cv.folds == k])['coverage'] for k in np.unique(cv.folds)]
            out.append(dict(model=name, target=cov, refer_by=by, **s, fold_coverage=' '.join(f'{c:.2f}' for c in per)))
    return out

def plot_rows(tab:pd.DataFrame, fname:Path, title:str):
    "Macro F1 and binary accuracy with their intervals, one row per table row"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 3, figsize=(12, 0.8 + 0.42 * len(tab)), sharey=True)
    y = np.arange(len(tab))[::-1]
    for ax, (c, lo, hi, name) in zip(axs, [('f1_macro', 'f1_lo', 'f1_hi', '7-class macro F1'), ('accuracy', 'acc_lo', 'acc_hi', '7-class accuracy'),
                                           ('binary_acc', 'bin_lo', 'bin_hi', 'normal/abnormal accuracy')]):
        ax.errorbar(tab[c], y, xerr=[tab[c] - tab[lo], tab[hi] - tab[c]], fmt='o', capsize=3)
        ax.set_yticks(y, tab.name); ax.set_title(f'{name} (95 % over slides)', fontsize=9); ax.grid(axis='x', alpha=.3)
    fig.suptitle(title, fontsize=10); fig.tight_layout()
    atomic_write(fname, lambda t: fig.savefig(t, dpi=110, format='png'))
    plt.close(fig)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--protocol', default='r18-96-ls', choices=list(CANDIDATES), help='the image model (a herlev_recipe.py candidate)')
    ap.add_argument('--pretrained', action='store_true', help='ImageNet weights for every image body (needs internet or --weights)')
    ap.add_argument('--weights', default=None, help='an offline ImageNet weights file or cache folder (implies --pretrained)')
    ap.add_argument('--source-epochs', type=int, default=5, help='epochs on the synthetic set in the staged run')
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    torch.set_num_threads(a.threads)
    t_all, secs = time.perf_counter(), {}
    pre = dict(pretrained=True, weights=a.weights) if a.pretrained or a.weights else {}
    tag = a.protocol + ('-imagenet' if pre else '')
    args = {**CANDIDATES[a.protocol], **pre}
    cvkw = dict(seed=0, threads=a.threads, progress=False)
    df = herlev_folds(a.data)
    rnd = grouped_kfold(df.assign(group=df.path), 5, seed=0).fold  # every cell its own group: random, class-stratified
    df = df.assign(rfold=rnd.to_numpy())
    print(f'Herlev {len(df)} cells, {df.group.nunique()} slides; image model {tag}: {args}', flush=True)

    def part(name, fn):
        t0 = time.perf_counter(); r = fn(); secs[name] = round(time.perf_counter() - t0, 1)
        print(f'{name}: {secs[name]:.0f} s', flush=True)
        return r
    cvg = part('grouped: image, fusion, morphometry', lambda: cross_validate(df, 'fold', CV_MODELS, run_dir=a.out/tag, tta=True, **args, **cvkw))
    def random_cells():  # each cell its own group (the library refuses a division that splits a slide), intervals still over slides
        cv = cross_validate(df.assign(group=df.path), 'rfold', ('image',), run_dir=a.out/f'{tag}-random', **args, **cvkw)
        slide = dict(zip(df.path.astype(str), df.group.astype(str)))
        cv.groups = np.array([slide[p] for p in cv.groups])
        return cv
    cvr = part('random cells: image', random_cells)
    assert (cvr.targs == cvg.targs).all() and (cvr.groups == cvg.groups).all(), 'the two protocols must score the same cells in the same order'

    def staged():
        syn = a.out/'synthetic'
        if not (syn/'.complete').exists():
            make_synthetic_sipakmed(syn, n_per_class=140, seed=0, clusters=False, overwrite=True, progress=False)
            atomic_write(syn/'.complete', 'done')
        sdf = divide_dataset(read_sipakmed(syn), seed=0)
        src_dir = a.out/f'{tag}-source'
        src = fit_backbone(sdf, args['arch'], epochs=a.source_epochs, lr=args['lr'], bs=args['bs'], size=args['size'],
                           label_smoothing=args.get('label_smoothing', 0.), mixup=args.get('mixup', 0.), schedule='one_cycle', keep=args.get('keep'),
                           run_dir=src_dir, seed=0, quiet=True, export=False, threads=a.threads,
                           resume=(src_dir/'checkpoints'/'state.json').exists(), **{'pretrained': False, **pre})
        rest = {**args, 'epochs': args['epochs'] - a.source_epochs, 'pretrained': False}
        rest.pop('weights', None)
        return cross_validate(df, 'fold', ('image',), run_dir=a.out/f'{tag}-staged', init_model=src.model, schedule='one_cycle', **rest, **cvkw)
    cvs = part('staged transfer', staged)

    out = a.out/'study'
    out.mkdir(parents=True, exist_ok=True)
    leak = leakage(cvg, cvr)
    vote_tab, mean_w, weighted = votes(cvg)
    models = vote_tab[vote_tab.kind == 'member'].drop(columns='kind')
    trans = pd.DataFrame([row(f'Herlev only, {args["epochs"]} epochs', cvg.probs['image'], cvg),
                          row(f'synthetic {a.source_epochs} + Herlev {args["epochs"] - a.source_epochs} epochs', cvs.probs['image'], cvs)])
    calib = calibration(cvg)
    draws = file_draws(df.path)
    conf = pd.DataFrame(conformal(cvg, calibrated(cvg.probs['image'], cvg), 'image', draws)
                        + conformal(cvg, calibrated(weighted, cvg), 'weighted vote', draws))
    folds = pd.DataFrame([dict(split=s, model=m, fold=k, f1_macro=f) for s, cv, ms in (('grouped', cvg, CV_MODELS), ('random', cvr, ('image',)))
                          for m in ms for k, f in enumerate(per_fold(cv, m))])
    tables = dict(leakage=leak, votes=vote_tab, models=models, transfer=trans, calibration=calib, conformal=conf, folds=folds)
    for k, t in tables.items(): atomic_write(out/f'{k}.csv', t.to_csv(index=False))
    plot_rows(leak, out/'leakage.png', f'{tag}: the same model on slide-grouped and on random cell-level folds')
    plot_rows(vote_tab, out/'votes.png', f'{tag}: members and votes (slide-grouped folds)')
    plot_rows(trans, out/'transfer.png', f'{tag}: staged transfer vs Herlev only, equal epochs')
    gap = {k: float(leak[k].iloc[1] - leak[k].iloc[0]) for k in ('accuracy', 'f1_macro', 'binary_acc', 'binary_f1')}
    secs['total'] = round(time.perf_counter() - t_all, 1)  # this run's (parts done before are loaded, not redone)
    secs['training_logged'] = round(sum(epoch_seconds(h) for d in (tag, f'{tag}-random', f'{tag}-source', f'{tag}-staged')
                                        for h in (a.out/d).rglob('history.csv')), 1)  # every epoch of every model, whenever it ran
    study = dict(command='python bench/herlev_study.py' + ''.join(f' {x}' for x in sys.argv[1:]), protocol=a.protocol, image_model=args | {'weights': str(a.weights) if a.weights else None},
                 pretrained=bool(pre), cells=len(df), slides=int(df.group.nunique()), folds=5, bootstrap=BOOT, threads=a.threads,
                 torch=torch.__version__, leakage_gap=gap, leakage_gap_ci95=gap_ci(cvg, cvr), vote_weights_mean=mean_w, seconds=secs,
                 tables={k: json.loads(t.to_json(orient='records')) for k, t in tables.items()})
    atomic_write(out/'study.json', json.dumps(study, indent=1))
    with pd.option_context('display.width', 200, 'display.max_columns', 30, 'display.precision', 3):
        for k, t in tables.items():
            if k != 'folds': print(f'\n## {k}\n{t.to_string(index=False)}')
    print(f'\nleakage gap (random - grouped): {gap}\nseconds: {secs}\nwritten: {out}')

if __name__ == '__main__':
    from cervix_fastai.core import DataError
    try: main()
    except DataError as e: sys.exit(f'error: {e}')
