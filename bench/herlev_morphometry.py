"""The morphometry-only models of the Herlev study (MLP, gradient boosting, logistic regression on each cell's
measurements from its mask), on the study's slide-grouped folds, with the scores and intervals the study reports.
Minutes, not the study's hour: no image model is trained. It answers what a change to the measurements
(`image.features`, `FEATURES_VERSION`) does to those rows of the README's Results table; the fusion model and the votes
need `bench/herlev_study.py`.

    python bench/herlev_morphometry.py [--out runs/herlev-morph] [--data ../shared/data/herlev]
"""
import argparse, sys, warnings
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from herlev_recipe import herlev_folds, scores  # the study's folds and its scores
from cervix_fastai.image.features import FEATURES_VERSION
from cervix_fastai.train.cv import cross_validate

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=ROOT/'runs'/'herlev-morph')
    ap.add_argument('--data', type=Path, default=ROOT.parent/'shared'/'data'/'herlev')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    cv = cross_validate(herlev_folds(a.data), models=('mlp', 'gb', 'lr'), run_dir=a.out/f'features-v{FEATURES_VERSION}', seed=0,
                        threads=a.threads, progress=False)
    print(f'morphometry version {FEATURES_VERSION}; {len(cv.targs)} cells, {len(set(cv.groups))} slides')
    print('| model | 7-class macro F1 | 7-class accuracy | normal/abnormal accuracy |\n|---|---|---|---|')
    for m, p in cv.probs.items():
        s = scores(p, cv.targs, cv.vocab, cv.groups)
        print(f"| {m} | {s['f1']:.3f} [{s['f1_ci'][0]:.2f}, {s['f1_ci'][1]:.2f}] | {s['acc']:.3f} [{s['acc_ci'][0]:.2f}, {s['acc_ci'][1]:.2f}] "
              f"| {s['bin_acc']:.3f} [{s['bin_ci'][0]:.2f}, {s['bin_ci'][1]:.2f}] |")

if __name__ == '__main__': main()
