"""``coinval bench``: the measuring subcommands, one module each.

``accuracy`` compares coinval with baseline acceptors; ``probe``, ``ceiling``
and ``heads`` write the reports ``make bench`` and ``make heads`` collect;
``speed`` and ``scaling`` turn the benchmarks' pytest-benchmark JSON into
reports; ``summary`` puts each goal beside what was measured.  The measuring
itself lives in :mod:`coinval_eval`.
"""
