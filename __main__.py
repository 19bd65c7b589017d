"""Allows ``python -m greenkfp``."""

from greenkfp.pipelines.cli import main

raise SystemExit(main())
