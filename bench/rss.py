"""Run a command and report its own peak memory: ``python bench/rss.py CMD ARGS...``.

Prints one JSON line on stderr: {"exit", "maxrss_mb", "cpu_s", "wall_s"}; the command's stdout
and stderr pass through. Why a separate launcher: Linux carries the *parent's* peak RSS over
into a forked child's ``ru_maxrss`` (it is recorded at exec), so a child forked from the
benchmark process (hundreds of MB of corpus in memory) would report the benchmark's memory, not
its own. This launcher is a small process, so what it sees for RUSAGE_CHILDREN is the command's.
"""

import json
import resource
import subprocess
import sys
import time

if __name__ == "__main__":
    start = time.perf_counter()
    code = subprocess.call(sys.argv[1:])
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"exit": code, "maxrss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "wall_s": wall, "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
          file=sys.stderr)
    sys.exit(code)
