"""`make bench`: the project's performance claims, each measured next to its goal (see ``__main__``)."""

#: The one switch for the runner's goals of issue 14 (makespan / bound, polling cost and lag, flat CPU and bytes per
#: recipe, peak memory at 20,000 recipes: bench.scale and bench.engine). False while the runner work is not merged:
#: misses print GOAL MISSED without failing `make bench`. True: any miss fails it. Runs that fail always fail it.
RUNNER_GOALS_ENFORCED = False
