__version__ = "0.0.1"

import warnings as _w
# fastai's layers.py calls torch.jit.script at import, which torch 2.14 deprecates: two lines of noise on every
# console script run, and nothing a user can act on. Only that message is silenced.
_w.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
