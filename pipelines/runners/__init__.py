"""Where a compiled pipeline runs: locally through kfp.local, on a KFP host, on Vertex AI.

- :mod:`.local`: ``greenkfp run`` (kfp.local, ``run_summary.json``);
- :mod:`.package`: the compiled pipeline to submit and its parameters' checks;
- :mod:`.kfp_target` and :mod:`.vertex_target`: ``greenkfp submit`` to a KFP host
  (``kfp.Client``) or to Vertex AI Pipelines (``aiplatform.PipelineJob``);
- :mod:`.dry_run`: what ``greenkfp submit --dry-run`` prints;
- :mod:`.submission`: the errors and the result every submission shares.

Heavy clients (``kfp.Client``, ``google.cloud.aiplatform``) are imported inside functions.
"""
