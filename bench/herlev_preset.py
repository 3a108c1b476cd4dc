"""The `screen` preset's model on the Herlev study's folds: what `run_job(preset='screen')` builds, judged on held-out slides.

The preset (`apps.job.PRESETS['screen']`) trains four members on a folder with no masks: the `small-data-cpu` image
network with the shipped segmenter's mask planes, a fusion network, logistic regression and gradient boosting on the
cells' measurements (from the predicted masks); then a weighted vote, its abnormal threshold, its slide rule and its
conformal scores. This script takes those four members as `bench/herlev_masks_in.py` trained them on the study's five
slide-grouped folds (run it first: this script trains nothing; its image member kept the best epoch) and, for each
test fold, does what the job does with its validation split on the other four folds' held-out cells: fits the vote
weights (`fit_vote_weights`), chooses the abnormal threshold (`abnormal_threshold`) and the slide rule (`choose_rule`),
and stores the vote's conformal scores (`aps_scores`, overall and per class). Pooled over the five test folds: the
7-class and normal/abnormal figures, the calls' sensitivity and specificity, the slide-level AUC and sensitivities,
and at 90 % coverage the share of cells and of slides referred to a person, with the accuracy on the rest.
Intervals: 95 %, 1,000 bootstrap resamples of slides.

    python bench/herlev_preset.py [--out runs/herlev-masks]      # writes preset.json there, read by tools/results.py

With `--job DIR`, it also records the preset run as a user runs it, once, on the whole shared copy (one division by
slide, 60/20/20), timed with GNU time, whose report it reads from DIR.log:

    /usr/bin/time -v cervix-fastai run --data ../shared/data/herlev --out runs/herlev-preset --set preset=screen > runs/herlev-preset.log 2>&1
    python bench/herlev_preset.py --job runs/herlev-preset
"""
import argparse, json, sys, time
from collections import Counter
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_args, scores
from herlev_masks_in import table_probs
from cervix_fastai.core import atomic_write
from cervix_fastai.data.core import HERLEV_BINARY
from cervix_fastai.evaluate.metrics import sens_spec
from cervix_fastai.evaluate.conformal import aps_scores, conformal_threshold, class_thresholds, by_class, prediction_sets, refer, conformal_summary
from cervix_fastai.evaluate.slides import cell_risk, abnormal_threshold, choose_rule, slide_table, slide_metrics
from cervix_fastai.train.ensemble import fit_vote_weights

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = ('small-data-cpu-masks (+ predicted mask planes)', 'fusion (learned masks)', 'lr (learned masks)', 'gb (learned masks)')  # learned: the shipped segmenter's
COVERAGE = 0.9

def per_fold(P, cv, abnormal):
    "Each test fold's vote, calls, sets (overall and per class) and slide rule, everything chosen on the other folds"
    n, k = P.shape[1:]
    vote, calls, sets, sets_pc, rules, weights = np.zeros((n, k)), np.zeros(n, bool), np.zeros((n, k), bool), np.zeros((n, k), bool), [], []
    u = np.random.default_rng(0).uniform(size=n)  # one draw per cell (the library draws from the file's bytes)
    for f in np.unique(cv.folds):
        te, cal = cv.folds == f, cv.folds != f
        w = fit_vote_weights(P[:, cal], cv.targs[cal])
        vc, vote[te] = np.tensordot(w, P[:, cal], axes=1), np.tensordot(w, P[:, te], axes=1)
        t, _ = abnormal_threshold(cell_risk(vc, cv.vocab, HERLEV_BINARY), abnormal[cal])
        calls[te] = cell_risk(vote[te], cv.vocab, HERLEV_BINARY) >= t
        rules.append(choose_rule(cell_risk(vc, cv.vocab, HERLEV_BINARY), cv.groups[cal], abnormal[cal])[0])
        sets[te] = prediction_sets(vote[te], conformal_threshold(aps_scores(vc, cv.targs[cal], u=u[cal]), COVERAGE), u=u[te])
        q = class_thresholds(by_class(aps_scores(vc, cv.targs[cal], u=u[cal], top=True), cv.targs[cal], cv.vocab), cv.vocab, COVERAGE)
        sets_pc[te] = prediction_sets(vote[te], q, u=u[te])
        weights.append(w)
    return vote, calls, sets, sets_pc, rules, np.mean(weights, 0)

def referral(sets, vote, cv, abnormal, calls) -> dict:
    "Cells and slides referred at the sets' coverage (a set that spans normal and abnormal, or is empty), and the accuracy on the rest"
    s = conformal_summary(sets, vote, cv.targs, cv.vocab, HERLEV_BINARY)
    ref = refer(sets, cv.vocab, HERLEV_BINARY)
    slides = sorted(set(cv.groups))
    sref = {g: ref[cv.groups == g].any() for g in slides}
    strue = {g: abnormal[cv.groups == g].any() for g in slides}
    scall = {g: calls[cv.groups == g].any() for g in slides}
    rest = [g for g in slides if not sref[g]]
    ok7 = vote.argmax(1) == cv.targs
    return dict(coverage=s['coverage'], coverage_by_class=s['coverage_by_class'], mean_set_size=s['mean_set_size'],
                cells_referred=s['referred'], binary_accuracy_rest=s['accuracy_kept'],
                accuracy_rest=float(ok7[~ref].mean()) if (~ref).any() else None,
                slides_referred=float(np.mean(list(sref.values()))), slides_rest=len(rest),
                slide_call_accuracy_rest=float(np.mean([scall[g] == strue[g] for g in rest])) if rest else None)

def job_figures(run:Path) -> dict:
    "The preset job's wall time, peak memory (GNU time's report in `run`.log) and its ensemble's test figures"
    res = json.loads((run/'results.json').read_text())
    log = Path(f'{run}.log').read_text() if Path(f'{run}.log').exists() else ''
    peak = next((int(l.split(':')[1]) for l in log.splitlines() if 'Maximum resident set size' in l), None)
    t = res['test']['ensemble']
    return dict(seconds=res['seconds'], stages={s['name']: s['seconds'] for s in res['stages']}, peak_rss_gib=None if peak is None else round(peak / 2**20, 2),
                cells=res['data']['cells'], per_split=res['data']['per_split'], slides_per_split=res['data'].get('slides_per_split'),
                weights=res['ensemble']['weights'], features=res.get('features'), test={k: t[k] for k in ('n', 'accuracy', 'accuracy_ci95', 'f1_macro', 'f1_macro_ci95', 'conformal', 'slides') if k in t})

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--rgb', type=Path, default=ROOT/'runs'/'herlev', help="bench/herlev_recipe.py's folder")
    ap.add_argument('--job', type=Path, default=None, help='a finished `--set preset=screen` run folder on the shared copy (its log beside it)')
    a, df = herlev_args(ap)
    df['path'] = df.path.astype(str)
    t0 = time.perf_counter()
    probs, cv, common = table_probs(df, a)
    P = np.stack([probs[m] for m in MEMBERS])
    abnormal = np.array([HERLEV_BINARY[cv.vocab[t]] == 'abnormal' for t in cv.targs])
    vote, calls, sets, sets_pc, rules, w = per_fold(P, cv, abnormal)
    sc = scores(vote, cv.targs, cv.vocab, cv.groups)
    cells = sens_spec(abnormal.astype(int), calls.astype(int), 1, groups=cv.groups)
    rule = Counter(rules).most_common(1)[0][0]
    sl = slide_metrics(slide_table(cell_risk(vote, cv.vocab, HERLEV_BINARY), cv.groups, rule, abnormal=abnormal, calls=calls))
    res = dict(command='python bench/herlev_preset.py', members=list(MEMBERS), weights=dict(zip(MEMBERS, np.round(w, 3).tolist())),
               cells=int(common.sum()), slides=int(len(set(cv.groups))), f1_macro=sc['f1'], f1_macro_ci95=list(sc['f1_ci']),
               accuracy=sc['acc'], accuracy_ci95=list(sc['acc_ci']), binary_accuracy=sc['bin_acc'], binary_accuracy_ci95=list(sc['bin_ci']),
               cell_sensitivity=cells['sensitivity'], cell_sensitivity_ci95=list(cells['sensitivity_ci95']),
               cell_specificity=cells['specificity'], cell_specificity_ci95=list(cells['specificity_ci95']),
               slide_rule=rule, chosen_rules=dict(Counter(rules)), slide=sl, coverage=COVERAGE,
               sets=referral(sets, vote, cv, abnormal, calls), sets_per_class=referral(sets_pc, vote, cv, abnormal, calls),
               seconds=round(time.perf_counter() - t0), **({'job': job_figures(a.job)} if a.job else {}))
    atomic_write(a.out/'preset.json', json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ('slide',)}, indent=1))
    print(f"slides: AUC {sl['auc']:.3f} {sl['auc_ci95']}, sens@90 {sl['sensitivity_at_90_specificity']:.3f}, calls {sl['call_sensitivity']:.3f}/{sl['call_specificity']:.3f}")

if __name__ == '__main__':
    main()
