"""Synthetic data, deterministic by construction.

Rows sample value pools that Faker drew once per locale and that ship with the package
(:mod:`.pools`), with numpy generators seeded per (seed, table, business date, block)
(:mod:`.streams`), so any row can be recomputed in any process, in any order.
One module per table: :mod:`.customers`, :mod:`.products`, :mod:`.stores`,
:mod:`.transactions`.
"""
