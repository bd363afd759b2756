"""Synthetic data, deterministic by construction.

Faker fills value pools once per (seed, locale) (:mod:`.pools`); rows sample those
pools with numpy generators seeded per (seed, table, business date, block)
(:mod:`.streams`), so any row can be recomputed in any process, in any order.
One module per table: :mod:`.customers`, :mod:`.products`, :mod:`.stores`,
:mod:`.transactions`.
"""
