"""Copy the figures of the Herlev study and recipe search into the repository: `nbs/results/herlev.json` (what the
`results` notebook reads) and the README's "Results" section (a cell of nbs/index.ipynb, then README.md).

    python tools/results.py [--runs runs/herlev]

It reads `--runs/study/study.json` (`bench/herlev_study.py`), `--runs/recipe.csv`, `--runs/recipe_folds.csv`
(`bench/herlev_recipe.py` without --only) and, when they exist, `--masks/masks.json` (`bench/herlev_masks.py`) and
`--masks/masks_in.json` (`bench/herlev_masks_in.py`), `--masks/slides.json` (`bench/herlev_slides.py`) and
`--ablation/ablation.json` (`bench/herlev_ablation.py`), `--masks/preset.json` (`bench/herlev_preset.py`); nothing
is computed here, every number is the scripts' own."""
import argparse, json, sys
from collections import Counter
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from readme import render

CELL_ID = 'results01'  # the README's Results cell in nbs/index.ipynb
MASKS_ID = 'results02'  # its cell on masks for every cell (`bench/herlev_masks.py`)
ABLATION_ID = 'results03'  # its cell on the from-scratch defaults (`bench/herlev_ablation.py`)
SLIDES_ID = 'results04'  # its cell on triage per slide (`bench/herlev_slides.py`)
PRESET_ID = 'results05'  # its cell on the screen preset (`bench/herlev_preset.py`)
RESULTS = ROOT/'nbs'/'results'/'herlev.json'

def ci(r, c, lo, hi): return f"{r[c]:.3f} [{r[lo]:.2f}, {r[hi]:.2f}]"

def score_table(rows, name='') -> str:
    "A markdown table of macro F1, accuracy and binary accuracy with intervals"
    out = [f'| {name} | 7-class macro F1 | 7-class accuracy | normal/abnormal accuracy |', '|---|---|---|---|']
    out += [f"| {r['name']} | {ci(r, 'f1_macro', 'f1_lo', 'f1_hi')} | {ci(r, 'accuracy', 'acc_lo', 'acc_hi')} | {ci(r, 'binary_acc', 'bin_lo', 'bin_hi')} |" for r in rows]
    return '\n'.join(out)

def masks_lines(m:dict, mi:dict|None=None, recipe:list=()) -> list[str]:
    "The README's lines on masks for every cell (`bench/herlev_masks.py`)"
    seg = ['| segmenter | nucleus Dice | nucleus IoU | whole-cell Dice | whole-cell IoU | cytoplasm Dice |', '|---|---|---|---|---|---|']
    seg += [f"| {s} | " + ' | '.join(f'{v[c][0]:.3f} ({v[c][1]:.2f}–{v[c][2]:.2f})' for c in ('dice_nucleus', 'iou_nucleus', 'dice_cell', 'iou_cell', 'dice_cytoplasm')) + ' |'
            for s, v in m['dice_summary'].items()]
    err = ['| masks | N/C ratio, mean abs. error | nucleus area, median rel. error | cell area, median rel. error | cells with no cell found |', '|---|---|---|---|---|']
    err += [f"| {s} | {e['nc_ratio_mae']:.3f} | {e['nuc_area_rel']:.3f} | {e['cell_area_rel']:.3f} | {e['no_cell']} |" for s, e in m['morphometry_error'].items()]
    rows = [dict(name=r['model'], f1_macro=r['f1_macro'], f1_lo=r['f1_ci'][0], f1_hi=r['f1_ci'][1], accuracy=r['accuracy'], acc_lo=r['acc_ci'][0],
                 acc_hi=r['acc_ci'][1], binary_acc=r['binary_acc'], bin_lo=r['bin_ci'][0], bin_hi=r['bin_ci'][1]) for r in m['table']]
    secs = [x for x in m.get('segmenter_seconds', []) if x]
    took = f"; each fold's segmenter trained in {min(secs) / 60:.1f} to {max(secs) / 60:.1f} minutes, the longer ones beside other runs" if secs else ''
    cmd = 'python bench/herlev_masks.py' + (' --fusion' if any(r['model'].startswith('fusion') for r in m['table']) else '')
    head = [f"**Masks for every cell** (`{cmd}`{took}): for each fold a segmenter "
            "trained on the other folds' cells (`fit_segmenter`, its defaults) predicts the masks of cells it never saw; the classical "
            "baseline (`classical_labels`) needs no training. Dice and IoU at each image's own size, mean over cells (range over the five folds):",
            '', *seg, '', 'What the predicted masks change in the measurements, against the true masks:', '', *err, '']
    if mi is None or 'table' not in mi:  # (no table yet: `bench/herlev_masks_in.py` ran only some candidates)
        return head + ['The morphometry models on the same folds, measured from each kind of mask:', '', score_table(rows, 'model')]
    return head + one_table(m, mi, recipe)

def _row(r:dict, name:str) -> dict:
    "A bench row (`f1_ci` lists) as `score_table` takes it"
    return dict(name=name, f1_macro=r['f1_macro'], f1_lo=r['f1_ci'][0], f1_hi=r['f1_ci'][1], accuracy=r['accuracy'], acc_lo=r['acc_ci'][0],
                acc_hi=r['acc_ci'][1], binary_acc=r['binary_acc'], bin_lo=r['bin_ci'][0], bin_hi=r['bin_ci'][1])

def one_table(m:dict, mi:dict, recipe:list) -> list[str]:
    "Every model a user with an ordinary folder can train, with and without masks, on the study's folds (`bench/herlev_masks_in.py`)"
    sd = next(r for r in recipe if r['candidate'] == 'r18-96-ls-40' and not r['tta'])  # the `small-data-cpu` recipe's settings
    t = {r['model']: r for r in mi['table']}
    image = lambda n, what: [_row(t[k], f'{what} (+ {m} mask planes)') for m in ('predicted', 'true') if (k := f'{n} (+ {m} mask planes)') in t]
    last = [(k, n) for k, n in (('small-data-cpu-last (RGB)', 'small-data-cpu, last epoch (RGB): the recipe now'),
                                 ('small-data-cpu-masks-last (+ predicted mask planes)', 'small-data-cpu, last epoch (+ predicted mask planes)')) if k in t]
    rows = ([dict(sd, name='small-data-cpu, best epoch (RGB)')] + image('small-data-cpu-masks', 'small-data-cpu, best epoch') + [_row(t[k], n) for k, n in last]
            + [_row(t['lite0-128-ft (RGB)'], 'Lite0 fine-tuned (RGB)')] + image('lite0-128-ft-masks', 'Lite0 fine-tuned')
            + [_row(t[f'{m} ({src} masks)'], f"{m} ({'predicted' if src == 'learned' else src} masks)") for src in ('true', 'learned') for m in ('lr', 'gb', 'fusion')]
            + [_row(r, r['model'].replace('(classical masks)', '(classical masks, no training)')) for r in m['table'] if '(classical' in r['model']]
            + [_row(r, r['model']) for r in mi['table'] if 'vote' in r['model']])
    w = next((r.get('weights') for r in mi['table'] if 'weights' in r), None)
    secs = mi.get('seconds_per_fold', {})
    took = ', '.join(f"{k} {v / 60:.1f} min" for k, v in secs.items())
    return ["**The one table** (`python bench/herlev_masks_in.py`, after `bench/herlev_masks.py --fusion`; training per fold: " + took + "). "
            f"Every model a lab with an ordinary folder of crops can train, the same five slide-grouped folds, 95 % intervals over slides, "
            f"on the {mi['cells_in_table']} cells every model kept (a cell whose mask holds no cell has no measurements). "
            "*Mask planes*: the cell's nucleus and whole-cell masks as two more input channels (`masks_in`), predicted for every cell, "
            "training and test alike, by the segmenter of its fold (never trained on its slide). *Predicted masks*: the measurements "
            "taken from those masks. `small-data-cpu, best epoch (RGB)` is the recipe row above and the classical rows are the segmenter table's (each on the cells its own run kept). "
            "Image models keep their best validation epoch (`keep='best'`, the default when these ran) unless the row says last epoch, the default now. "
            "The votes use every model an ordinary folder allows (none that reads true masks; one version of each model, the best-epoch ones)" + (f"; the weighted vote's mean weights: {', '.join(f'{k} {v:.2f}' for k, v in w.items())}" if w else '') + ':',
            '', score_table(rows, 'model'), '', advice(rows)]

def advice(rows:list) -> str:
    "The plain answer the table gives a lab without masks: its best single model and its best vote (by macro F1), from the rows themselves"
    folder = [r for r in rows if '(true' not in r['name'] and 'classical' not in r['name']]
    single = max((r for r in folder if 'vote' not in r['name']), key=lambda r: r['f1_macro'])
    vote = max((r for r in folder if 'vote' in r['name']), key=lambda r: r['f1_macro'], default=None)
    say = lambda r: f"{r['f1_macro']:.3f} macro F1, {r['accuracy']:.3f} accuracy, {r['binary_acc']:.3f} normal/abnormal"
    return (f"With an ordinary folder of crops (no masks), the best single model here is **{single['name']}** ({say(single)})"
            + (f"; the **{vote['name']}** reaches {say(vote)} (a vote that mixes morphometry with image models cannot yet be exported "
               "as one model: the bench computes it from the saved folds)." if vote else '.'))

def _ci2(v, c) -> str: return f"{v:.3f} [{c[0]:.2f}, {c[1]:.2f}]"

def slides_lines(sl:dict) -> list[str]:
    "The README's lines on normal/abnormal calls per cell and per slide (`bench/herlev_slides.py`)"
    out = ['| model | cells: sensitivity | cells: specificity | slides: AUC | sensitivity at 90 % specificity | at 95 % | slide calls: sensitivity | slide calls: specificity | AUC, top3 / noisy-or |',
           '|---|---|---|---|---|---|---|---|---|']
    out += [f"| {r['model'].replace('(learned masks)', '(predicted masks)')} | {_ci2(r['cell_sensitivity'], r['cell_sensitivity_ci95'])} | {_ci2(r['cell_specificity'], r['cell_specificity_ci95'])} | "
            f"{_ci2(r['auc'], r['auc_ci95'])} | {_ci2(r['sensitivity_at_90_specificity'], r['sensitivity_at_90_specificity_ci95'])} | "
            f"{_ci2(r['sensitivity_at_95_specificity'], r['sensitivity_at_95_specificity_ci95'])} | {_ci2(r['call_sensitivity'], r['call_sensitivity_ci95'])} | "
            f"{_ci2(r['call_specificity'], r['call_specificity_ci95'])} | {r['auc_other_rules']['top3']:.3f} / {r['auc_other_rules']['noisy_or']:.3f} |" for r in sl['rows']]
    chosen = sum((Counter(r['chosen_rules']) for r in sl['rows']), Counter())
    return [f"**Normal or abnormal, per cell and per slide** (`{sl['command']}`, after the one table; it trains nothing, {sl['seconds']} s): "
            f"the same models and cells; {sl['slides']} slides, {sl['abnormal_slides']} of them with an abnormal cell, {sl['cells_per_slide']:.1f} cells per slide. "
            "A cell is called abnormal when its abnormal classes' summed probability reaches the threshold of best balanced accuracy on "
            "the other folds' cells (as `calibrate` chooses it on a validation split); a slide is abnormal when any of its cells is, and "
            "called so when any of its cells is. The slide score is its riskiest cell's (`max`); the sensitivities at 90 % and 95 % "
            "specificity are read off that slide-level ROC. The last column: the AUC of the two other rules (`evaluate.slides`); "
            f"chosen on the other folds' slides, `choose_rule` picked {', '.join(f'{k} {v} times' for k, v in chosen.most_common())} "
            "(of five folds per model). Intervals: 1,000 bootstrap resamples of slides.", '', *out]

def _sets_row(name:str, s:dict) -> str:
    low = min(v for v in s['coverage_by_class'].values() if v is not None)
    return (f"| {name} | {s['coverage']:.3f} | {low:.3f} | {s['mean_set_size']:.2f} | {s['cells_referred']:.0%} | {s['binary_accuracy_rest']:.3f} | "
            f"{s['accuracy_rest']:.3f} | {s['slides_referred']:.0%} | {s['slide_call_accuracy_rest']:.3f} ({s['slides_rest']} slides) |")

def preset_lines(pr:dict) -> list[str]:
    "The README's lines on the `screen` preset (`bench/herlev_preset.py`)"
    sl, w = pr['slide'], ', '.join(f"{k.split(' (')[0]} {v:.2f}" for k, v in pr['weights'].items())
    out = [f"**The best model as one product: `--set preset=screen`** (`{pr['command']}`, after the one table; {pr['seconds']} s). "
           "The preset trains, from an ordinary folder, the four members a folder without masks allows: the `small-data-cpu` network "
           "with the shipped segmenter's mask planes, a fusion network, logistic regression and gradient boosting on the predicted "
           "masks' measurements; then a weighted vote, its abnormal threshold, slide rule and prediction sets. Here the members are "
           "those of the one table (its image member kept its best epoch), and for each test fold the vote weights "
           f"(mean: {w}), threshold, slide rule and conformal scores are chosen on the other four folds, as the job chooses them on "
           f"its validation split. {pr['cells']} cells, {pr['slides']} slides; 95 % intervals over slides.", '',
           '| model | 7-class macro F1 | 7-class accuracy | normal/abnormal accuracy | abnormal cells: sensitivity | specificity | slides: AUC | sensitivity at 90 % specificity | slide calls: sensitivity / specificity |',
           '|---|---|---|---|---|---|---|---|---|',
           f"| screen preset (weighted vote of 4) | {_ci2(pr['f1_macro'], pr['f1_macro_ci95'])} | {_ci2(pr['accuracy'], pr['accuracy_ci95'])} | "
           f"{_ci2(pr['binary_accuracy'], pr['binary_accuracy_ci95'])} | {_ci2(pr['cell_sensitivity'], pr['cell_sensitivity_ci95'])} | "
           f"{_ci2(pr['cell_specificity'], pr['cell_specificity_ci95'])} | {_ci2(sl['auc'], sl['auc_ci95'])} | "
           f"{_ci2(sl['sensitivity_at_90_specificity'], sl['sensitivity_at_90_specificity_ci95'])} | {sl['call_sensitivity']:.3f} / {sl['call_specificity']:.3f} |", '',
           f"Prediction sets at {pr['coverage']:.0%} coverage: a cell is referred to a person when its set spans normal and abnormal "
           "classes (or is empty); a slide when any of its cells is. Over all cells one quota can leave a rare class short; "
           f"per class (`per_class=True`) the lowest class comes nearer the target ({min(v for v in pr['sets_per_class']['coverage_by_class'].values() if v is not None):.3f} "
           f"against {min(v for v in pr['sets']['coverage_by_class'].values() if v is not None):.3f}), at the price of more referrals; with about "
           "560 calibration cells per fold a rare class has a few dozen, so its threshold is coarse:", '',
           '| sets | coverage | lowest class | mean set size | cells referred | normal/abnormal accuracy on the rest | 7-class accuracy on the rest | slides referred | slide calls right on the rest |',
           '|---|---|---|---|---|---|---|---|---|',
           _sets_row('over all cells', pr['sets']), _sets_row('per class', pr['sets_per_class'])]
    if j := pr.get('job'):
        t = j['test']
        out += ['', f"As a user runs it (`cervix-fastai run --data ../shared/data/herlev --set preset=screen`, once, on this 2-core "
                f"machine without a GPU): {j['seconds'] / 60:.0f} minutes wall time"
                + (f" (the copy has its own masks: the job measured {j['features']['measured'] - j['features']['predicted_masks']} of {j['features']['measured']} "
                   "cells and drew their planes from them, where the folds above used a segmenter that never saw the cell's slide)" if j.get('features') else '')
                + (f", peak memory {j['peak_rss_gib']:.1f} GiB" if j.get('peak_rss_gib') else '')
                + f"; on its own test split ({t['n']} cells of {j['slides_per_split']['test']} slides) the vote's macro F1 "
                f"{_ci2(t['f1_macro'], t['f1_macro_ci95'])}, accuracy {_ci2(t['accuracy'], t['accuracy_ci95'])}"
                + (f", slide AUC {_ci2(t['slides']['auc'], t['slides']['auc_ci95'])}" if t.get('slides') else '')
                + (f"; its prediction sets at {t['conformal']['target']:.0%}{' per class' if t['conformal'].get('per_class') else ''} cover {t['conformal']['coverage']:.3f} "
                   f"and refer {t['conformal']['referred']:.0%} of cells" if t.get('conformal') else '') + '.']
    return out

def ablation_lines(ab:dict) -> list[str]:
    "The README's lines on which from-scratch defaults won (`bench/herlev_ablation.py`)"
    names = {'base': '`CytoAugment` (the library\'s)', 'fastai-aug': "fastai's `aug_transforms()`", 'no-ls': 'no label smoothing'}
    g = lambda r, k: f"{r[k]:+.3f} [{r[k + '_ci'][0]:+.3f}, {r[k + '_ci'][1]:+.3f}]"
    ref = lambda r: (r['variant'], r['pick']) == ('base', 'best')
    out = ['| augmentation | epoch kept | 7-class macro F1 (seeds) | 7-class accuracy | normal/abnormal accuracy | macro F1 against best-epoch `CytoAugment` | '
           'normal/abnormal against the same | macro F1 against `CytoAugment` at the same epoch |', '|---|---|---|---|---|---|---|---|']
    out += [f"| {names.get(r['variant'], r['variant'])} | {r['pick']} | {r['f1_macro']:.3f} ({', '.join(f'{x:.3f}' for x in r['f1_seeds'])}) | "
            f"{r['accuracy']:.3f} | {r['binary_acc']:.3f} | {'(the reference)' if ref(r) else g(r, 'f1_gain')} | {'' if ref(r) else g(r, 'binary_gain')} | "
            f"{g(r, 'f1_vs_base') if 'f1_vs_base' in r else ''} |" for r in ab['rows']]
    b, seeds = ab['base'], ab['rows'][0]['seeds']
    return [f"**Which from-scratch defaults win** (`python bench/herlev_ablation.py`, {ab['train_seconds'] / 60:.0f} minutes of training epochs): "
            f"{b['arch']} from random weights, {b['size']} px, {b['epochs']} one-cycle epochs at {b['lr']}, label smoothing {b['label_smoothing']}, "
            f"on the same five folds, seeds {', '.join(map(str, seeds))}; figures averaged over the seeds, differences paired cell by cell "
            "with 95 % intervals over slides. Each run gives both epochs: the best by validation macro F1, and the last. The last epoch "
            "won, so it is what a run keeps now (`keep`; the best where early stopping may end a run); fastai's augmentation could not be "
            "told from `CytoAugment`, which stays (it moves mask planes with the cell).", '', *out]

def section(res:dict) -> str:
    "The README's Results section"
    s, rec = res['study'], res['recipe']
    t = s['tables']
    mins = s['seconds']['training_logged'] / 60
    im = s['image_model']
    model = f"{im['arch']} at {im['size']} px, {im['epochs']} one-cycle epochs, lr {im['lr']}" + (f", label smoothing {im['label_smoothing']}" if im.get('label_smoothing') else '')
    best = max((r for r in rec if r['kind'] == 'candidate' and not r['tta']), key=lambda r: r['f1_macro'])
    recipe_rows = [dict(r, name=r['candidate'] + (' + TTA' if r['tta'] else '') + (' (plain fastai: the baseline)' if r['kind'] == 'baseline' else '')) for r in rec]
    gap = s['leakage_gap']
    g95 = lambda k: '[{:+.2f}, {:+.2f}]'.format(*s['leakage_gap_ci95'][k])
    cal = {(r['model'], r['tta']): r for r in t['calibration']}
    c0, c1 = cal[('image', False)], cal[('image', True)]
    conf = [r for r in t['conformal'] if r['target'] == 0.9]
    conf_lines = ['| model | refer when the set spans | coverage (target 0.90) | mean set size | referred | accuracy on the rest |', '|---|---|---|---|---|---|']
    conf_lines += [f"| {r['model']} | {'more than one class' if r['refer_by'] == 'class' else 'normal and abnormal'} | {r['coverage']:.3f} | {r['mean_set_size']:.2f} | "
                   f"{r['referred']:.1%} | {r['accuracy_kept']:.3f} |" for r in conf]
    tr = t['transfer']
    pre = 'ImageNet weights' if s['pretrained'] else 'random weights (no ImageNet download here)'
    return '\n'.join([
        '## Results',
        '',
        f"Real cells, held-out slides: the shared Herlev copy ({s['cells']} cells, {s['slides']} slides, 7 classes), slide-grouped "
        f"{s['folds']}-fold cross-validation (every cell tested once, by a model that never saw its slide), {pre}, "
        f"{s['threads']} CPU threads. Brackets: 95 % intervals from a bootstrap over slides. "
        f"`python bench/herlev_study.py` made these ({mins:.0f} minutes of training epochs, all its models together), "
        "`python bench/herlev_recipe.py` the recipe search; "
        '`python tools/results.py` copied them here. All tables and plots: the `results` notebook.',
        '',
        f"**Leakage.** The same model ({model}) on slide-grouped folds and on random cell-level folds (cells of one slide on both sides):",
        '',
        score_table(t['leakage'], 'folds'),
        '',
        f"Mixing slides adds {gap['accuracy']:+.3f} accuracy {g95('accuracy')}, {gap['f1_macro']:+.3f} macro F1 {g95('f1_macro')} and "
        f"{gap['binary_acc']:+.3f} normal/abnormal accuracy {g95('binary_acc')} (paired intervals over slides): "
        'figures reported on random splits are not what a new slide gets.',
        '',
        '**Image, morphometry, fusion and votes** (slide-grouped folds; the morphometry is measured from the Herlev masks; '
        'the weighted vote\'s weights for each fold come from the other folds):',
        '',
        score_table(t['votes'], 'model'),
        '',
        f"**Staged transfer** through the synthetic SIPaKMeD-layout set, at equal epochs: {tr[1]['name']} reaches macro F1 {tr[1]['f1_macro']:.3f} "
        f"against {tr[0]['f1_macro']:.3f} for {tr[0]['name']}. **Calibration**: ECE {c0['ece']:.3f} → {c0['ece_temperature']:.3f} "
        f"with temperature scaling; with TTA (four flips) {c1['ece']:.3f} → {c1['ece_temperature']:.3f}, accuracy {c0['accuracy']:.3f} → {c1['accuracy']:.3f}.",
        '',
        f"**The small-data CPU recipe.** Candidates, the same folds (per-fold figures in the `results` notebook); "
        f"`recipe='small-data-cpu'` is the best of them without TTA ({best['candidate']}, about {best['fold_seconds'] / 60:.0f} minutes of training per fold); "
        "the last row is it in a weighted vote with the three morphometry models:",
        '',
        score_table(recipe_rows, 'candidate'),
        '',
        '**Prediction sets** (APS, coverage 0.9, threshold from the other folds\' cells, temperature applied):',
        '',
        *conf_lines,
    ])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', type=Path, default=ROOT/'runs'/'herlev')
    ap.add_argument('--masks', type=Path, default=ROOT/'runs'/'herlev-masks')
    ap.add_argument('--ablation', type=Path, default=ROOT/'runs'/'herlev-ablation')
    a = ap.parse_args()
    if (a.runs/'study'/'study.json').exists():
        res = dict(study=json.loads((a.runs/'study'/'study.json').read_text()),
                   recipe=json.loads(pd.read_csv(a.runs/'recipe.csv').to_json(orient='records')),
                   recipe_folds=json.loads(pd.read_csv(a.runs/'recipe_folds.csv').to_json(orient='records')))
    else:  # the study's figures as last copied (this machine has not run it): only the other parts are new
        res = {k: v for k, v in json.loads(RESULTS.read_text()).items() if k in ('study', 'recipe', 'recipe_folds')}
        print(f'{a.runs}/study/study.json not found: the study and recipe figures stay as last copied into {RESULTS.relative_to(ROOT)}')
    if (a.masks/'masks.json').exists(): res['masks'] = json.loads((a.masks/'masks.json').read_text())
    if (a.masks/'masks_in.json').exists(): res['masks_in'] = json.loads((a.masks/'masks_in.json').read_text())
    if (a.masks/'slides.json').exists(): res['slides'] = json.loads((a.masks/'slides.json').read_text())
    if (a.masks/'preset.json').exists(): res['preset'] = json.loads((a.masks/'preset.json').read_text())
    if (a.ablation/'ablation.json').exists(): res['ablation'] = json.loads((a.ablation/'ablation.json').read_text())
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    res.update({k: old[k] for k in ('masks', 'masks_in', 'slides', 'ablation', 'preset') if k not in res and k in old})  # figures this machine did not make again
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=1) + '\n')
    nbf = ROOT/'nbs'/'index.ipynb'
    nb = json.loads(nbf.read_text())
    cells = ([(CELL_ID, section(res))] + ([(MASKS_ID, '\n'.join(masks_lines(res['masks'], res.get('masks_in'), res['recipe'])))] if 'masks' in res else [])
             + ([(ABLATION_ID, '\n'.join(ablation_lines(res['ablation'])))] if 'ablation' in res else [])
             + ([(SLIDES_ID, '\n'.join(slides_lines(res['slides'])))] if 'slides' in res else [])
             + ([(PRESET_ID, '\n'.join(preset_lines(res['preset'])))] if 'preset' in res else []))
    for cid, text in cells:  # each replaces its cell, or goes just before "What is in it"
        cell = dict(cell_type='markdown', id=cid, metadata={}, source=text.splitlines(keepends=True))
        at = [i for i, c in enumerate(nb['cells']) if c.get('id') == cid]
        if at: nb['cells'][at[0]] = cell
        else: nb['cells'].insert(next(i for i, c in enumerate(nb['cells']) if ''.join(c['source']).startswith('## What is in it')), cell)
    nbf.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    (ROOT/'README.md').write_text(render())
    print(f'wrote {RESULTS.relative_to(ROOT)}, the Results cell of nbs/index.ipynb and README.md')

if __name__ == '__main__': main()
