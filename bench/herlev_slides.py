"""Normal/abnormal per cell and per slide on the Herlev study's folds: what the models of the one table reach.

Every model of the table in the README (`bench/herlev_masks_in.py`, run it first: this script trains nothing) gives
each held-out cell a probability of an abnormal class (`cell_risk`: the abnormal classes' probabilities summed). For
each test fold the cells' threshold is chosen on the other four folds' held-out cells (`abnormal_threshold`: the best
balanced accuracy, as `calibrate` chooses it on a validation split), and a cell is called abnormal at or above it.
Per cell: the calls' sensitivity and specificity for abnormal cells. Per slide (a slide is abnormal when any of its
cells is; called abnormal when any of its cells is called so): the slide-level AUC and the sensitivity at 90 % and
95 % specificity of the `max` rule (the slide's riskiest cell), the calls' sensitivity and specificity, and the AUC
of the other two rules (`SLIDE_RULES`); and which rule `choose_rule` picks on the other folds' slides. Intervals:
95 %, 1,000 bootstrap resamples of slides. Pooled over the five folds; a fixed rule throughout, so the slide scores of
different folds are on one scale.

    python bench/herlev_slides.py [--out runs/herlev-masks]      # writes slides.json there, read by tools/results.py
"""
import argparse, json, sys, time, warnings
from pathlib import Path
from collections import Counter
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args
from herlev_masks_in import table_probs, no_true_masks
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import HERLEV_BINARY
from cervix_fastai.evaluate.metrics import sens_spec
from cervix_fastai.evaluate.slides import cell_risk, abnormal_threshold, choose_rule, slide_table, slide_metrics, plot_slide_roc, SLIDE_RULES

ROOT = Path(__file__).resolve().parents[1]

def by_fold(risk, abnormal, cv) -> tuple[np.ndarray, list, list]:
    "Each cell's call at the threshold its fold's other folds chose; the thresholds; the rule the other folds' slides chose"
    calls, thrs, rules = np.zeros(len(risk), bool), [], []
    for k in np.unique(cv.folds):
        te = cv.folds == k
        t, _ = abnormal_threshold(risk[~te], abnormal[~te])
        calls[te] = risk[te] >= t
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            rules.append(choose_rule(risk[~te], cv.groups[~te], abnormal[~te])[0])
        thrs.append(round(t, 3))
    return calls, thrs, rules

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--rgb', type=Path, default=ROOT/'runs'/'herlev', help="bench/herlev_recipe.py's folder (lite0-128-ft)")
    a, df = herlev_args(ap)
    df['path'] = df.path.astype(str)
    t0 = time.perf_counter()
    probs, cv, common = table_probs(df, a)
    probs['soft vote of the models without true masks'] = np.stack(list(no_true_masks(probs).values())).mean(0)
    abnormal = np.array([HERLEV_BINARY[cv.vocab[t]] == 'abnormal' for t in cv.targs])
    rows, vote = [], None
    for name, p in probs.items():
        risk = cell_risk(p, cv.vocab, HERLEV_BINARY)
        calls, thrs, rules = by_fold(risk, abnormal, cv)
        cells = sens_spec(abnormal.astype(int), calls.astype(int), 1, groups=cv.groups)
        tables = {r: slide_table(risk, cv.groups, r, abnormal=abnormal, calls=calls) for r in SLIDE_RULES}
        m = slide_metrics(tables['max'])
        other = {r: slide_metrics(tables[r], n_boot=0)['auc'] for r in SLIDE_RULES[1:]}
        rows.append(dict(model=name, thresholds=thrs, chosen_rules=dict(Counter(rules)), cell_sensitivity=cells['sensitivity'],
                         cell_sensitivity_ci95=list(cells['sensitivity_ci95']), cell_specificity=cells['specificity'],
                         cell_specificity_ci95=list(cells['specificity_ci95']), **m, auc_other_rules=other))
        if name.startswith('soft vote'): vote = tables['max']
        print(f"{name:<50} cells: sens {cells['sensitivity']:.3f} spec {cells['specificity']:.3f} | slides AUC {m['auc']:.3f} "
              f"[{m['auc_ci95'][0]:.3f}, {m['auc_ci95'][1]:.3f}] sens@90 {m['sensitivity_at_90_specificity']:.3f} sens@95 "
              f"{m['sensitivity_at_95_specificity']:.3f} calls {m['call_sensitivity']:.3f}/{m['call_specificity']:.3f} | "
              + ' '.join(f'{r} {v:.3f}' for r, v in other.items()) + f' | chosen {dict(Counter(rules))} thresholds {thrs}', flush=True)
    fig = plot_slide_roc(vote)
    fig.savefig(a.out/'slides_roc.png', dpi=120, bbox_inches='tight')
    res = dict(command='python bench/herlev_slides.py', cells=int(common.sum()), slides=int(len(vote)), abnormal_slides=int(vote.abnormal.sum()),
               cells_per_slide=float(vote.cells.mean()), rules=list(SLIDE_RULES), rows=rows, seconds=round(time.perf_counter() - t0))
    atomic_write(a.out/'slides.json', json.dumps(res, indent=1))
    print(f"{res['slides']} slides ({res['abnormal_slides']} abnormal), {res['cells']} cells; {res['seconds']} s", flush=True)

if __name__ == '__main__':
    main()
