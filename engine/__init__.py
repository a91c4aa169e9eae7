"""cdrflow: classify, price and bill OCPI CDRs.

The package is split in two on purpose. The *core* (intake, config, facts, classify, pricing,
tax, mapping, decision) is pure: no I/O, no clock, so the same code serves the live service,
``dry-run``, ``test`` and ``plan``. The *shell* (cli, server, store, providers) does the I/O and
imports the core, never the other way round.
"""

__version__ = "0.1.0"
