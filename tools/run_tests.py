"""The whole test suite, as `make test` and `.ci/run` run it.

1. checks: `nbdev-export` leaves cervix_fastai/ unchanged, `nbdev-clean` leaves nbs/ unchanged, README.md is in step
   with nbs/index.ipynb, the console scripts start;
2. every notebook under nbs/ through `nbdev-test` (one process per notebook, `--workers` at a time);
3. a closing line `N passed, N failed` over checks and notebooks. No notebook found is a failure.

The notebooks write synthetic data sets, checkpoints and exports under `tempfile.mkdtemp()`: several GB per run.
Each run gets its own TMPDIR, removed at the end, so repeated runs do not fill the disk."""
import argparse, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def snapshot(folder, pattern):
    return {p: p.read_bytes() for p in sorted((ROOT/folder).rglob(pattern)) if '.ipynb_checkpoints' not in p.parts}

def changed_by(cmd, folder, pattern):
    "Run `cmd` and list the files under `folder` it changed, added or removed"
    before = snapshot(folder, pattern)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode: return [f'{cmd[0]} failed:\n{r.stdout}{r.stderr}']
    after = snapshot(folder, pattern)
    return [str(p.relative_to(ROOT)) for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)]

def checks():
    yield 'nbdev-export leaves cervix_fastai/ unchanged', changed_by([str(BIN/'nbdev-export')], 'cervix_fastai', '*.py')
    yield 'notebooks are nbdev-clean', changed_by([str(BIN/'nbdev-clean')], 'nbs', '*.ipynb')
    r = subprocess.run([sys.executable, 'tools/readme.py', '--check'], cwd=ROOT, capture_output=True, text=True)
    yield 'README.md in step with nbs/index.ipynb', [] if r.returncode == 0 else [r.stdout.strip()]
    for script in ('cervix-fastai', 'cervix-demo', 'cervix-score', 'cervix-gradcam'):
        r = subprocess.run([str(BIN/script), '--help'], cwd=ROOT, capture_output=True, text=True)
        yield f'console script {script} starts', [] if r.returncode == 0 and 'usage' in r.stdout else [r.stdout + r.stderr]

def run_nb(nb, flags, env):
    t0 = time.perf_counter()
    cmd = [str(BIN/'nbdev-test'), str(nb), '--n-workers', '0'] + (['--flags', flags] if flags else [])
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    ok = r.returncode == 0 and 'Success.' in r.stdout
    return nb, ok, time.perf_counter() - t0, r.stdout + r.stderr

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--flags', default='', help="nbdev-test flags to run, e.g. 'slow'")
    ap.add_argument('--workers', type=int, default=2, help='notebooks run at once')
    ap.add_argument('nbs', nargs='*', help='only these notebooks (default: all under nbs/)')
    a = ap.parse_args()
    passed = failed = n_checks = 0
    for name, problems in checks():
        n_checks += 1
        ok = not problems
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'PASS' if ok else 'FAIL'}  check: {name}" + ('' if ok else '\n      ' + '\n      '.join(problems)), flush=True)
    nbs = [Path(n).resolve() for n in a.nbs] or sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
    if not nbs:
        print('FAIL  no notebook found under nbs/')
        failed += 1
    # Notebooks run side by side: keep each one's torch/BLAS threads to its share of the cores.
    tmp = tempfile.mkdtemp(prefix='cervix_tests_')
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 2) // max(1, a.workers))), TMPDIR=tmp)
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max(1, a.workers)) as ex:
            for nb, ok, secs, log in ex.map(lambda nb: run_nb(nb, a.flags, env), nbs):
                passed, failed = passed + ok, failed + (not ok)
                print(f"{'PASS' if ok else 'FAIL'}  {nb.relative_to(ROOT)}  ({secs:.1f} s)", flush=True)
                if not ok: print(log[-6000:], flush=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    print(f'{len(nbs)} notebooks and {n_checks} checks in {time.perf_counter() - t0:.0f} s' + (f" (flags: {a.flags})" if a.flags else ''))
    print(f'{passed} passed, {failed} failed')
    sys.exit(1 if failed or not nbs else 0)

if __name__ == '__main__': main()
