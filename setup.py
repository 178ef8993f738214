"""The package list for setuptools, derived from the folders.

``pyproject.toml`` holds all the metadata and maps each top-level package onto its folder
(``[tool.setuptools.package-dir]``). With such a mapping setuptools installs only the
packages it is told about, and ``[tool.setuptools.packages.find]`` cannot add the
``catallax.`` prefix, so this file lists them: each mapped package plus every folder with
an ``__init__.py`` beneath it (``find_packages``). A new subpackage needs no line anywhere.
"""

import tomllib

from setuptools import find_packages, setup

with open("pyproject.toml", "rb") as handle:
    PACKAGE_DIR: dict[str, str] = tomllib.load(handle)["tool"]["setuptools"]["package-dir"]

setup(
    packages=[
        f"{package}.{sub}" if sub else package
        for package, folder in PACKAGE_DIR.items()
        for sub in ["", *find_packages(folder)]
    ]
)
