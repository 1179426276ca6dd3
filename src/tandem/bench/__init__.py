"""``tandem bench``: start each topology for real, measure it with real clients, report and recommend.

Data flows one way: options -> variants -> (start server, measure, stop) per variant -> figures ->
targets + recommendation -> terminal table, JSON, HTML. The decisions (targets, recommendation) are pure
functions over the figures; only the runner starts processes.
"""
