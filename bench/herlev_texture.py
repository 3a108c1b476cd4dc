"""Measurements that might carry more: does nucleus chromatin earn a place beside the 34 morphometry features?

Candidate groups, measured here (not in the library) from each Herlev cell's own mask, on the haematoxylin channel
(scikit-image's `rgb2hed`) inside its largest nucleus:

- intensity: the 10th, 50th and 90th percentiles and the spread of haematoxylin;
- texture: grey-level co-occurrence (`graycomatrix`, 16 levels between the nucleus's own 1st and 99th percentiles,
  distances 1 and 2, four angles, pixels outside the nucleus left out) contrast, homogeneity, energy, correlation;
- irregularity: the spread of the outline's distance from its centroid over its mean.

Gradient boosting and logistic regression with the 34 features and with each group added, on the study's
slide-grouped folds (`herlev_folds`); 95 % intervals over slides, and the paired interval of the gain in macro F1
(the same resampled slides for both models). A group earns its place when that interval lies above zero.

    nice -n 10 python bench/herlev_texture.py [--out runs/herlev-texture] [--data ../shared/data/herlev]
"""
import argparse, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_folds, scores
from skimage.color import rgb2hed
from skimage.feature import graycomatrix, graycoprops
from skimage.measure import find_contours, label as label_regions
from scipy.ndimage import binary_fill_holes
from cervix_fastai.image.features import FEATURES, features_manifest, cell_labels, NUCLEUS, BACKGROUND
from cervix_fastai.image.preprocess import read_rgb
from cervix_fastai.evaluate.metrics import bootstrap_ci, macro_f1
from cervix_fastai.train.cv import cross_validate

ROOT = Path(__file__).resolve().parents[1]
GROUPS = dict(intensity=['nuc_h_p10', 'nuc_h_p50', 'nuc_h_p90', 'nuc_h_std'],
              texture=[f'nuc_glcm_{p}' for p in ('contrast', 'homogeneity', 'energy', 'correlation')],
              irregularity=['nuc_radial_cv'])

def chromatin(img, lab) -> dict:
    "The candidate measurements of one cell"
    cell = binary_fill_holes(lab > BACKGROUND)
    nl = label_regions(cell & (lab == NUCLEUS))
    nuc = nl == np.bincount(nl.ravel())[1:].argmax() + 1
    h = rgb2hed(img)[..., 0]
    hv = h[nuc]
    out = dict(nuc_h_p10=np.percentile(hv, 10), nuc_h_p50=np.percentile(hv, 50), nuc_h_p90=np.percentile(hv, 90), nuc_h_std=hv.std())
    rr, cc = np.nonzero(nuc)
    sub, m = h[rr.min():rr.max() + 1, cc.min():cc.max() + 1], nuc[rr.min():rr.max() + 1, cc.min():cc.max() + 1]
    lo, hi = np.percentile(hv, [1, 99])
    q = np.where(m, 1 + np.clip((sub - lo) / max(hi - lo, 1e-9) * 15.999, 0, 15).astype(int), 0).astype(np.uint8)
    P = graycomatrix(q, [1, 2], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=17, symmetric=True)[1:, 1:].astype(float)  # level 0: outside
    s = P.sum((0, 1), keepdims=True)
    P = P / np.where(s > 0, s, 1)
    for prop in ('contrast', 'homogeneity', 'energy', 'correlation'): out[f'nuc_glcm_{prop}'] = float(np.nanmean(graycoprops(P, prop)))
    c = max(find_contours(np.pad(nuc, 1).astype(float), 0.5), key=len)
    d = np.hypot(*(c - c.mean(0)).T)
    out['nuc_radial_cv'] = d.std() / d.mean()
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-texture')
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    a.out.mkdir(parents=True, exist_ok=True)
    df = herlev_folds(a.data)
    t0 = time.perf_counter()
    ex = pd.DataFrame([chromatin(read_rgb(p, turn=False), cell_labels(p, segmenter=None)) for p in df.path])
    ms = (time.perf_counter() - t0) / len(df) * 1000
    full = pd.concat([features_manifest(df, cache=a.out/'features.csv', progress=False).reset_index(drop=True), ex], axis=1)
    variants = {'base': list(FEATURES), **{f'+{g}': list(FEATURES) + cols for g, cols in GROUPS.items()},
                '+all': list(FEATURES) + [c for cols in GROUPS.values() for c in cols]}
    probs = {}
    print(f'Herlev {len(df)} cells, {df.group.nunique()} slides; the candidates cost {ms:.0f} ms per cell\n')
    print('| features | model | 7-class macro F1 | gain (paired 95 %) | 7-class accuracy | normal/abnormal accuracy |\n|---|---|---|---|---|---|')
    for name, cont in variants.items():
        cv = cross_validate(full, models=('gb', 'lr'), cont=cont, run_dir=a.out/f'cv-{name}', seed=0, threads=1, progress=False)
        for m in ('gb', 'lr'):
            probs[name, m] = p = cv.probs[m]
            s = scores(p, cv.targs, cv.vocab, cv.groups)
            gain = ''
            if name != 'base':
                both = np.stack([probs['base', m].argmax(1), p.argmax(1)], 1)
                lo, hi = bootstrap_ci(cv.targs, both, lambda t, q: macro_f1(t, q[:, 1]) - macro_f1(t, q[:, 0]), groups=cv.groups)
                gain = f"{macro_f1(cv.targs, both[:, 1]) - macro_f1(cv.targs, both[:, 0]):+.3f} [{lo:+.3f}, {hi:+.3f}]"
            print(f"| {name} | {m} | {s['f1']:.3f} [{s['f1_ci'][0]:.2f}, {s['f1_ci'][1]:.2f}] | {gain} | {s['acc']:.3f} | {s['bin_acc']:.3f} |", flush=True)

if __name__ == '__main__': main()
