"""Write README.md from nbs/index.ipynb (Quarto, which nbdev-readme needs, cannot be installed here), and run its Python.

`python tools/readme.py` rewrites README.md; `--check` exits 1 when README.md is stale; `--run` runs README.md's
```python blocks as a reader would paste them: in order, in one Python process and namespace, in a new empty folder,
offline, and exits 1 naming the first block that fails and its error. The ```sh blocks are not run: they call `make`
and the command line on real data. `nbs/97_readme.ipynb` is the test that runs the blocks in `make test`."""
import argparse, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    "Markdown for the README: markdown cells as they are, code cells that are not `#| hide` as Python blocks"
    out = []
    for c in json.loads(Path(nb_path).read_text())['cells']:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown':
            # nbdev's `> summary` line under the title becomes a plain quote
            out.append(src)
        elif c['cell_type'] == 'code' and not re.search(r'^#\|\s*hide', src, re.M):
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
            if code: out.append(f'```python\n{code}\n```')
    return '\n\n'.join(out) + '\n'

def python_blocks(text:str) -> list[str]:
    "The ```python blocks of a markdown text, in order (```sh and other fences are left out)"
    return re.findall(r'^```python[ \t]*\n(.*?)^```[ \t]*$', text, re.M | re.S)

# The child process: each block is exec'd in one namespace, in order; the first failure ends the run, naming the block.
_RUNNER = r'''
import json, linecache, sys, time, traceback
import torch
torch.set_num_threads(int(sys.argv[1]))
blocks, ns = json.load(sys.stdin), {'__name__': '__main__'}
for i, code in enumerate(blocks, 1):
    name, t0, c0 = f'<README block {i}>', time.perf_counter(), time.process_time()
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)  # tracebacks quote the block's lines
    try: exec(compile(code, name, 'exec'), ns)
    except BaseException as e:
        traceback.print_exc(file=sys.stdout)
        print(f'README block {i} of {len(blocks)} failed: {type(e).__name__}: {str(e)[:2000]}', flush=True)
        sys.exit(1)
    print(f'README block {i} of {len(blocks)} ran in {time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s of CPU)', flush=True)
'''

def run_blocks(blocks:list[str], # Python source, run in this order
               threads:int|None=None, # torch threads (default: $OMP_NUM_THREADS, else 2)
               timeout=900, # seconds for all blocks together
              ) -> tuple[int, str]:
    "Run `blocks` as pasted into a fresh `python`, in a new empty folder (removed after), offline: (exit status, output)"
    threads = threads or int(os.environ.get('OMP_NUM_THREADS') or 2)
    with tempfile.TemporaryDirectory(prefix='readme_blocks_') as d:
        work, home = Path(d)/'work', Path(d)/'home'  # the blocks' folder stays empty of anything but their own files
        work.mkdir(); (home/'tmp').mkdir(parents=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MPLBACKEND='Agg', PYTHONUNBUFFERED='1', TMPDIR=str(home/'tmp'),
                   # as on a fresh machine without internet: no cached ImageNet weights, no downloads
                   TORCH_HOME=str(home/'torch'), HF_HOME=str(home/'hf'), HF_HUB_OFFLINE='1', XDG_CACHE_HOME=str(home/'cache'))
        with open(home/'output.txt', 'w+') as log:
            try: rc = subprocess.run([sys.executable, '-c', _RUNNER, str(threads)], input=json.dumps(blocks).encode(),
                                     cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired: rc = 124
            log.seek(0)
            out = log.read()
    if rc == 124: out += f'README blocks timed out after {timeout} s: the block after the last one reported did not end\n'
    return rc, out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='exit 1 if README.md is not what nbs/index.ipynb gives; write nothing')
    ap.add_argument('--run', action='store_true', help="run README.md's Python blocks in a fresh folder; exit 1 on the first failure")
    ap.add_argument('--threads', type=int, default=None, help='torch threads for --run (default: $OMP_NUM_THREADS, else 2)')
    a, readme = ap.parse_args(), ROOT/'README.md'
    if a.run:
        blocks, t0 = python_blocks(readme.read_text()), time.perf_counter()
        rc, out = run_blocks(blocks, a.threads)
        print(out[-12000:], end='')
        print(f'{len(blocks)} Python blocks of README.md: {"FAILED" if rc else "all ran"} in {time.perf_counter() - t0:.0f} s')
        sys.exit(1 if rc else 0)
    text = render()
    if a.check:
        ok = readme.exists() and readme.read_text() == text
        print('README.md is in step with nbs/index.ipynb' if ok else 'README.md is stale: run `python tools/readme.py`')
        sys.exit(0 if ok else 1)
    readme.write_text(text)
    print(f'wrote {readme}')

if __name__ == '__main__': main()
