"Packaging: metadata from settings.ini, version from cervix_fastai/__init__.py (one place for each fact)."
import re
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
config = ConfigParser(delimiters=['='])
config.read(here/'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']
version = re.search(r'__version__\s*=\s*"([^"]+)"', (here/cfg['lib_path']/'__init__.py').read_text()).group(1)

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()
lic = licenses[cfg['license']]
min_python = cfg['min_python']
requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
extras = {k: cfg.get(f'{k}_requirements', '').split() for k in ('app', 'onnx', 'distributed', 'weights')}
console_scripts = [s.strip() for s in cfg.get('console_scripts', '').split() if s.strip()]

setuptools.setup(
    name=cfg['lib_name'],
    license=lic[0],
    classifiers=['Development Status :: ' + statuses[int(cfg['status'])],
                 'Intended Audience :: Science/Research',
                 'Topic :: Scientific/Engineering :: Medical Science Apps.',
                 'License :: ' + lic[1],
                 'Natural Language :: ' + cfg['language']] +
                ['Programming Language :: Python :: ' + v for v in py_versions[py_versions.index(min_python):]],
    version=version,
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'], author_email=cfg['author_email'],
    url=f"https://github.com/{cfg['user']}/{cfg['repo']}",
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True,
    package_data={cfg['lib_path']: ['weights/segmenter/*']},  # the shipped segmenter (safetensors + JSON)
    install_requires=requirements,
    extras_require={'dev': dev_requirements + sum(extras.values(), []), **extras},  # the tests use every extra
    python_requires='>=' + min_python,
    long_description=(here/'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts,
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
