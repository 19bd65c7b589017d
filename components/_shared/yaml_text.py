"""YAML that reads numbers as YAML 1.2 and JSON do. Needs only PyYAML (a kfp dependency)."""

from __future__ import annotations

import re
from typing import Any

_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")


def _loader() -> Any:
    import yaml

    # PyYAML follows YAML 1.1, where a float needs a dot (1.0e-5): 1e-5, as people write
    # it and as json.dumps(0.00001) prints it, would be a string.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
    return Loader


def safe_load(text: str) -> Any:
    """Like ``yaml.safe_load``, but ``1e-5`` is a number; raises ``yaml.YAMLError``."""
    import yaml

    return yaml.load(text, Loader=_loader())
