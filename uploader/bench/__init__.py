"""``uploader bench``, and the harness that ``benchmarks/`` (the full suites, ``make bench``)
shares with it: generated datasets, the mock as a child process, every measured program a
child whose peak RSS is sampled while it runs."""
