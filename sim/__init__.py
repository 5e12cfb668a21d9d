"""Simulator: physics-based coin population, virtual sensor head and ccTalk host.

Coin population modules, from physics up to the command line:

``materials``     alloys and platings: conductivity, permeability, temperature coefficient
``response``      layered-conductor eddy model: skin depth, conductive and magnetic terms,
                  reactive and loss components
``physics_b``     the second physics: layered reflection coefficient, annular footprint,
                  1/f noise (heads named "phys2:...")
``shapes``        outlines: round, rounded polygon, Reuleaux polygon
``coins``         designs (geometry, ring/core stacks, edge) of the genuine coins
``counterfeits``  counterfeit families;  ``lookalikes``  euro, threepence, washer, slug
``kinds``         the registry of everything the simulator makes
``pieces``        physical pieces: mint batch, piece scatter, wear, dirt
``heads``         virtual sensor heads (named "A".."D", random "seed:N", "phys2:<head>")
``eddy``, ``rim`` eddy traces and rim profiles of pieces
``measure``       a head measuring pieces: insertion, scaling, noise, glitches
``population``    ``generate``, ``kinds``, ``to_json_dicts``: the public API
``cli``           ``coinval sim population``

The simulator never imports the classifier (an import-linter contract).
"""
