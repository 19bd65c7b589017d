"""Carbon-aware submission: the cleanest window and region to run in.

The forecast points, the file provider and the intensity series are in
``components/_shared/grid_forecast.py``, the Carbon Aware SDK WebAPI and Electricity Maps
clients in ``grid_providers.py`` and the Vertex region names in ``grid_locations.py`` (steps
price their own window with them too, ``grid_intensity.py``); :mod:`.chooser` picks the
(location, start) with the lowest mean intensity over the job, or a location from history
when the provider does not forecast; :mod:`.submission` wires them into ``greenkfp submit
--carbon-aware``.
"""
