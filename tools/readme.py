"""Write README.md from nbs/index.ipynb (Quarto, which nbdev-readme needs, cannot be installed here).

`python tools/readme.py` rewrites README.md; `python tools/readme.py --check` exits 1 when README.md is stale."""
import json, re, sys
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

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print('README.md is in step with nbs/index.ipynb' if ok else 'README.md is stale: run `python tools/readme.py`')
        sys.exit(0 if ok else 1)
    readme.write_text(text)
    print(f'wrote {readme}')
