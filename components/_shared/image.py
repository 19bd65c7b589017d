"""The container image that every greenkfp component runs in."""

import os

from greenkfp import __version__

DEFAULT_IMAGE_REPOSITORY = "ghcr.io/greenkfp/greenkfp"
IMAGE_ENV_VAR = "GREENKFP_IMAGE"


def default_image() -> str:
    """Returns the image built from this release's ``build/Dockerfile``."""
    return f"{DEFAULT_IMAGE_REPOSITORY}:{__version__}"


def component_image() -> str:
    """Returns the image components are declared with.

    ``GREENKFP_IMAGE`` overrides the default when set before the components are
    imported; ``greenkfp compile --image`` overrides it in compiled YAML.
    """
    return os.environ.get(IMAGE_ENV_VAR) or default_image()
