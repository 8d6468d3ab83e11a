"""Package discovery for the mapped layout (api/ -> automl, cli/ -> automl.cli, ...).

pyproject.toml cannot express "find the sub-packages of a folder and install them under
another name", so the list is computed here; every other setting lives in pyproject.toml.
"""

from setuptools import find_packages, setup

MAPPED_ROOTS = {
    "api": "automl",
    "cli": "automl.cli",
    "engine": "automl.engine",
    "schemas": "automl.schemas",
}


def mapped_packages() -> list[str]:
    packages = []
    for folder, name in MAPPED_ROOTS.items():
        packages.append(name)
        packages.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return packages


setup(packages=mapped_packages())
