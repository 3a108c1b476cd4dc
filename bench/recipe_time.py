"""Wall time of one training recipe on one fold of the Herlev study, and what it reaches on that fold's held-out slides.

The study's folds (`grouped_kfold(read_herlev(--data), 5, seed=0)`): fold k's cells are the test split, the next fold
validates, the other three train (`fold_manifest`). Trains `fit_backbone(recipe=...)` into a temporary folder and
prints the wall time (data loading and every epoch's validation included) and the test split's accuracy and macro F1.
Uses only what older versions of the library have too, so `PYTHONPATH=<an older checkout> python bench/recipe_time.py`
gives the "before" of a change.

    python bench/recipe_time.py [--recipe small-data-cpu] [--fold 0] [--set channels_last=1 ...]
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import cervix_fastai
from cervix_fastai.data.core import read_herlev, grouped_kfold
from cervix_fastai.train.cv import fold_manifest
from cervix_fastai.train.backbone import fit_backbone, split_metrics

HERLEV = Path(__file__).resolve().parents[2]/'shared'/'data'/'herlev'

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--recipe', default='small-data-cpu')
    ap.add_argument('--fold', type=int, default=0)
    ap.add_argument('--data', default=str(HERLEV))
    ap.add_argument('--set', nargs='*', default=[], help='more fit_backbone arguments, name=value (Python literals)')
    a = ap.parse_args()
    warnings.simplefilter('ignore')
    extra = {k: eval(v) for k, v in (s.split('=', 1) for s in a.set)}
    df = fold_manifest(grouped_kfold(read_herlev(a.data), 5, seed=0), 'fold', a.fold)
    t0 = time.perf_counter()
    res = fit_backbone(df, recipe=a.recipe, run_dir=Path(tempfile.mkdtemp())/'run', quiet=True, export=False, **extra)
    secs = time.perf_counter() - t0
    m = split_metrics(res, df, 'test')
    print(f"cervix_fastai {cervix_fastai.__version__} ({Path(cervix_fastai.__file__).parent}): recipe {a.recipe}, fold {a.fold} "
          f"({(df.split == 'train').sum()} training cells), {extra or ''} {secs:.0f} s; test accuracy {m['accuracy']:.3f}, macro F1 {m['f1_macro']:.3f}")

if __name__ == '__main__': main()
