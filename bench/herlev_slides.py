"""Triage per slide on the Herlev study's folds: what the models of the one table reach per slide, not per cell.

Every model of the table in the README (`bench/herlev_masks_in.py`, run it first: this script trains nothing) gives
each held-out cell a probability of an abnormal class (`cell_risk`: the abnormal classes' probabilities summed). A
slide is abnormal when any of its cells is. For each test fold the slide rule (`SLIDE_RULES`: max, mean of the three
riskiest, noisy-or) is chosen by slide-level AUC on the other four folds' held-out cells (`choose_rule`), then the
fold's slides are scored with it. Pooled over the five folds: slide-level AUC, sensitivity at 90 % and 95 %
specificity, and the call's sensitivity and specificity (a slide called abnormal when any cell's abnormal probability
is 0.5 or more), with 95 % intervals from 1,000 bootstrap resamples of slides (`slide_metrics`); and how often each
rule was chosen.

    python bench/herlev_slides.py [--out runs/herlev-masks]      # writes slides.json there, read by tools/results.py
"""
import argparse, json, sys, time, warnings
from pathlib import Path
from collections import Counter
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args
from herlev_masks_in import table_probs, no_true_masks
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import HERLEV_BINARY
from cervix_fastai.evaluate.slides import cell_risk, choose_rule, slide_table, slide_metrics, plot_slide_roc, SLIDE_RULES

ROOT = Path(__file__).resolve().parents[1]

def fold_slides(risk, cv) -> tuple[pd.DataFrame, list]:
    "Each fold's slides scored by the rule the other folds chose; (the slides of all folds, the rule of each fold)"
    abnormal = np.array([HERLEV_BINARY[cv.vocab[t]] == 'abnormal' for t in cv.targs])
    tables, rules = [], []
    for k in np.unique(cv.folds):
        te = cv.folds == k
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            rule, _ = choose_rule(risk[~te], cv.groups[~te], abnormal[~te])
        rules.append(rule)
        tables.append(slide_table(risk[te], cv.groups[te], rule, abnormal=abnormal[te]).assign(fold=int(k)))
    t = pd.concat(tables, ignore_index=True)
    t['rule'] = 'by fold'  # (each fold its own rule)
    return t, rules

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--rgb', type=Path, default=ROOT/'runs'/'herlev', help="bench/herlev_recipe.py's folder (lite0-128-ft)")
    a, df = herlev_args(ap)
    df['path'] = df.path.astype(str)
    t0 = time.perf_counter()
    probs, cv, common = table_probs(df, a)
    members = no_true_masks(probs)
    probs['soft vote of the models without true masks'] = np.stack(list(members.values())).mean(0)
    rows, best = [], None
    for name, p in probs.items():
        t, rules = fold_slides(cell_risk(p, cv.vocab, HERLEV_BINARY), cv)
        m = slide_metrics(t)
        rows.append(dict(model=name, rules=dict(Counter(rules)), **m))
        if name.startswith('soft vote'): best = t
        print(f"{name:<52} AUC {m['auc']:.3f} [{m['auc_ci95'][0]:.3f}, {m['auc_ci95'][1]:.3f}]  sens@90 {m['sensitivity_at_90_specificity']:.3f}  "
              f"sens@95 {m['sensitivity_at_95_specificity']:.3f}  call sens {m['call_sensitivity']:.3f} spec {m['call_specificity']:.3f}  rules {dict(Counter(rules))}", flush=True)
    fig = plot_slide_roc(best.assign(rule='soft vote'))
    fig.savefig(a.out/'slides_roc.png', dpi=120, bbox_inches='tight')
    res = dict(command='python bench/herlev_slides.py', cells=int(common.sum()), slides=int(len(best)), abnormal_slides=int(best.abnormal.sum()),
               cells_per_slide=float(best.cells.mean()), rules=list(SLIDE_RULES), rows=rows, seconds=round(time.perf_counter() - t0))
    atomic_write(a.out/'slides.json', json.dumps(res, indent=1))
    print(f"{res['slides']} slides ({res['abnormal_slides']} abnormal), {res['cells']} cells; {res['seconds']} s", flush=True)

if __name__ == '__main__':
    main()
