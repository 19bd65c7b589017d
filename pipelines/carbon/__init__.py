"""Carbon-aware submission: grid carbon intensity forecasts and the cleanest window to run in.

:mod:`.forecast` holds the forecast point, the provider interface and the file provider;
:mod:`.providers` the Carbon Aware SDK WebAPI and Electricity Maps clients (stdlib
``urllib``); :mod:`.chooser` picks the (location, start) with the lowest mean intensity
over the job; :mod:`.submission` wires them into ``greenkfp submit --carbon-aware``.
"""
