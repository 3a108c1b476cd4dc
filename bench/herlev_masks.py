"""Masks for every cell, measured: the segmenters and what their masks cost the measurements, on the Herlev study's
slide-grouped folds (`herlev_folds`: the cells of one slide never on two sides).

For fold k a segmenter (`fit_segmenter`, the package's defaults) is trained on the cells of the other four folds and
predicts the masks of fold k, which it never saw; the classical baseline (`classical_labels`) needs no training.
Reported: Dice and IoU per label on each held-out fold at the images' own size (mean over cells, then the mean and
range over folds), and the morphometry models (gradient boosting, logistic regression) on the same folds with the
measurements taken from the true masks, from the learned segmenter's and from the classical baseline's (`--fusion`:
also the fusion model of the study's `r18-96-ls` protocol, from the true and the learned masks), with 95 % intervals
over slides. Resumable: each fold's
segmenter, masks and probabilities stay under `--out`.

`--ship` instead trains the segmenter shipped in the package on every cell of the shared copy and writes it to
`cervix_fastai/weights/segmenter` (with its cross-validated scores from a finished CV run, if there is one).

    nice -n 10 python bench/herlev_masks.py [--fusion] [--out runs/herlev-masks] [--data ../shared/data/herlev] [--threads 2]
    nice -n 10 python bench/herlev_masks.py --ship
"""
import argparse, json, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_folds, scores, CANDIDATES
from cervix_fastai.core import atomic_write
from cervix_fastai.image.features import FEATURES, measure, cell_labels
from cervix_fastai.image.preprocess import read_rgb
from cervix_fastai.image.segment import classical_labels, seg_scores, save_segmenter, SEGMENTER_FILES
from cervix_fastai.train.segment import fit_segmenter
from cervix_fastai.train.cv import cross_validate

ROOT = Path(__file__).resolve().parents[1]

def fold_masks(df, k, out:Path, threads) -> list:
    "Predicted label images of fold k's cells, by a segmenter trained on the other folds (saved, reused)"
    d = out/f'fold{k}'
    f = d/'labels.npz'
    if not f.exists():
        train = df[df.fold != k].assign(split='train')
        seg = fit_segmenter(train, d/'segmenter', threads=threads)
        test = df[df.fold == k]
        labs = seg.predict([read_rgb(p, turn=False) for p in test.path])
        def _save(t):
            with open(t, 'wb') as fh: np.savez_compressed(fh, *labs)
        atomic_write(f, _save)
    z = np.load(f)
    return [z[f'arr_{i}'] for i in range(len(z.files))]

def measured(df, labels:dict) -> pd.DataFrame:
    "`df` with the FEATURES measured from `labels` (path → label image); a cell whose mask holds no cell is left empty"
    rows = []
    for p in df.path:
        try: rows.append(measure(read_rgb(p, turn=False), labels[p]))
        except ValueError: rows.append({})
    return pd.concat([df.reset_index(drop=True), pd.DataFrame(rows, columns=list(FEATURES))], axis=1)

def grid(df, truth, learned, classical, dest, n=8, seed=0):
    "A picture of `n` held-out cells (one per class, then random): the image and each kind of mask, nucleus white, cytoplasm grey"
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(seed)
    picks = [rng.choice(df.path[df.label == c].to_numpy()) for c in sorted(df.label.unique())][:n]
    fig, axs = plt.subplots(4, len(picks), figsize=(1.6 * len(picks), 6.6))
    for j, p in enumerate(picks):
        for i, (name, im) in enumerate([('image', read_rgb(p, turn=False)), ('true', truth[p]), ('learned', learned[p]), ('classical', classical[p])]):
            axs[i, j].imshow(im if im.ndim == 3 else im, cmap=None if im.ndim == 3 else 'gray', vmin=0, vmax=2); axs[i, j].set_xticks([]); axs[i, j].set_yticks([])
            if j == 0: axs[i, j].set_ylabel(name)
        axs[0, j].set_title(df.label[df.path == p].iloc[0].replace('_', ' '), fontsize=7)
    fig.tight_layout(); fig.savefig(dest, dpi=90); plt.close(fig)

def table_row(name, p, cv) -> dict:
    s = scores(p, cv.targs, cv.vocab, cv.groups)
    return dict(model=name, f1_macro=s['f1'], f1_ci=list(s['f1_ci']), accuracy=s['acc'], acc_ci=list(s['acc_ci']),
                binary_acc=s['bin_acc'], bin_ci=list(s['bin_ci']))

def ship(a):
    df = herlev_folds(a.data)
    dest = ROOT/'cervix_fastai'/'weights'/'segmenter'
    t0 = time.perf_counter()
    seg = fit_segmenter(df.assign(split='train'), None, threads=a.threads, progress=True)
    seg.meta.update(trained_on=f'{len(df)} Herlev cells of {df.group.nunique()} slides (the shared copy), their own masks',
                    made_by='python bench/herlev_masks.py --ship')
    cv = a.out/'masks.json'
    if cv.exists(): seg.meta['cv'] = json.loads(cv.read_text())['dice_summary']['learned']  # this recipe on held-out slides
    save_segmenter(seg, dest)
    print(f'{seg} in {time.perf_counter() - t0:.0f} s -> {dest} ({(dest/SEGMENTER_FILES[0]).stat().st_size / 1e6:.1f} MB)')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--fusion', action='store_true', help="also the study's fusion model (r18-96-ls) from the true and the learned masks")
    ap.add_argument('--ship', action='store_true', help='train the shipped segmenter on every cell instead')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.ship: return ship(a)
    t0 = time.perf_counter()
    df = herlev_folds(a.data)
    df['path'] = df.path.astype(str)
    truth = {p: cell_labels(p, segmenter=None) for p in df.path}
    learned, classical, dice = {}, {}, []
    for k in sorted(df.fold.unique()):
        test = df[df.fold == k]
        for p, l in zip(test.path, fold_masks(df, k, a.out, a.threads)): learned[p] = l
        for p in test.path: classical[p] = classical_labels(read_rgb(p, turn=False))
        for name, pred in (('learned', learned), ('classical', classical)):
            dice.append(dict(fold=int(k), segmenter=name, **seg_scores([pred[p] for p in test.path], [truth[p] for p in test.path])))
        print(f'fold {k}: ' + ', '.join(f"{d['segmenter']} nucleus {d['dice_nucleus']:.3f} cell {d['dice_cell']:.3f}" for d in dice[-2:]), flush=True)
    dice = pd.DataFrame(dice)
    summary = {s: {c: [round(g[c].mean(), 3), round(g[c].min(), 3), round(g[c].max(), 3)] for c in g.columns if c.startswith(('dice', 'iou'))}
               for s, g in dice.groupby('segmenter')}
    tabs, models = [], ('gb', 'lr') + (('fusion',) if a.fusion else ())
    fit = {**CANDIDATES['r18-96-ls'], 'seed': 0, 'threads': a.threads, 'progress': False}
    errors = {}
    feats = {name: measured(df, labels) for name, labels in (('true', truth), ('learned', learned), ('classical', classical))}
    ref = feats['true']
    rel = lambda f, c: float(np.nanmedian(np.abs(f[c] - ref[c]) / ref[c].abs().clip(lower=1e-9)))
    for name, f in feats.items():
        if name != 'true':  # what predicted masks change in the measurements the models read
            errors[name] = dict(nc_ratio_mae=float(np.nanmean(np.abs(f.nc_ratio - ref.nc_ratio))), nuc_area_rel=rel(f, 'nuc_area'),
                                cell_area_rel=rel(f, 'cell_area'), no_cell=int(f[list(FEATURES)].isna().all(axis=1).sum()))
        ms = models if name != 'classical' else ('gb', 'lr')  # (fusion: true and learned masks, the comparison that matters)
        cv = cross_validate(f, models=ms, run_dir=a.out/f'cv-{name}', **fit)
        tabs += [table_row(f'{m} ({name} masks)', cv.probs[m], cv) for m in ms]
    grid(df, truth, learned, classical, a.out/'examples.png')
    fold_secs = [json.loads((a.out/f'fold{k}'/'segmenter'/SEGMENTER_FILES[1]).read_text()).get('seconds') for k in sorted(df.fold.unique())]
    res = dict(cells=len(df), slides=int(df.group.nunique()), dice_per_fold=dice.to_dict('records'), dice_summary=summary,
               segmenter_seconds=fold_secs,
               morphometry_error=errors, table=tabs, seconds=round(time.perf_counter() - t0, 1))
    atomic_write(a.out/'masks.json', json.dumps(res, indent=1))
    print(f"\nHerlev {len(df)} cells, {df.group.nunique()} slides, 5 slide-grouped folds; {res['seconds']:.0f} s")
    print('| segmenter | nucleus Dice | nucleus IoU | cell Dice | cell IoU | cytoplasm Dice |\n|---|---|---|---|---|---|')
    for s, v in summary.items():
        print(f"| {s} | " + ' | '.join(f'{v[c][0]:.3f} ({v[c][1]:.2f}–{v[c][2]:.2f})' for c in ('dice_nucleus', 'iou_nucleus', 'dice_cell', 'iou_cell', 'dice_cytoplasm')) + ' |')
    print('\n| masks | N/C ratio abs. error | nucleus area rel. error (median) | cell area rel. error (median) | no cell found |\n|---|---|---|---|---|')
    for s, e in errors.items(): print(f"| {s} | {e['nc_ratio_mae']:.3f} | {e['nuc_area_rel']:.3f} | {e['cell_area_rel']:.3f} | {e['no_cell']} |")
    print('\n| model | 7-class macro F1 | 7-class accuracy | normal/abnormal accuracy |\n|---|---|---|---|')
    for r in tabs:
        print(f"| {r['model']} | {r['f1_macro']:.3f} [{r['f1_ci'][0]:.2f}, {r['f1_ci'][1]:.2f}] | {r['accuracy']:.3f} [{r['acc_ci'][0]:.2f}, {r['acc_ci'][1]:.2f}] "
              f"| {r['binary_acc']:.3f} [{r['bin_ci'][0]:.2f}, {r['bin_ci'][1]:.2f}] |")

if __name__ == '__main__': main()
