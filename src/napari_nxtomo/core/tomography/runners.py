"""Runners of independent jobs (annealing runs, sampling chains) in threads or on a dask cluster.

Jobs are plain functions ``fn(pb, *args, stop)`` of the problem (:mod:`.anneal`);
the runner polls the ``cancel`` callback and reports finished jobs to a
:class:`_Ticker`.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


class _Ticker:
    """Counts finished steps and reports them as ``progress(i, n)``."""

    def __init__(self, progress, n):
        self.progress, self.n, self.done = progress, n, 0

    def tick(self, k=1):
        self.done += k
        if self.progress is not None:
            self.progress(self.done, self.n)


class _Runner:
    """Runs independent jobs ``fn(pb, *args, stop)`` in threads or on a dask cluster, polling ``cancel``."""

    def __init__(self, pb, client, n_workers, cancel):
        self.pb, self.client, self.cancel = pb, client, cancel
        self.n_workers = max(1, int(n_workers or os.cpu_count() or 1))
        self._pb_future = None

    def map(self, fn, jobs, ticker):
        """Run ``fn(pb, *args, stop)`` for every ``args`` in ``jobs``; ``ticker.tick()`` per finished job.

        Returns ``(results, stopped)``: the results in the order of ``jobs``
        (None for a job that did not finish) and whether ``cancel`` stopped them.
        """
        if not jobs:
            return [], False
        if self.cancel is not None and self.cancel():  # cancelled before this stage started
            return [None] * len(jobs), True
        if self.client is not None:
            return self._map_dask(fn, jobs, ticker)
        return self._map_threads(fn, jobs, ticker)

    def _map_threads(self, fn, jobs, ticker):
        stop = threading.Event()
        results = [None] * len(jobs)
        stopped = False
        with ThreadPoolExecutor(max_workers=min(self.n_workers, len(jobs))) as pool:
            futs = {pool.submit(fn, self.pb, *args, stop): i for i, args in enumerate(jobs)}
            pending = set(futs)
            while pending:
                fin, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in fin:
                    r = f.result()
                    if r is not None:
                        results[futs[f]] = r
                        if ticker is not None:
                            ticker.tick()
                if pending and self.cancel is not None and self.cancel():
                    stopped = True
                    stop.set()
                    for f in pending:
                        f.cancel()
                    wait(pending)
                    for f in pending:
                        if not f.cancelled() and f.exception() is None and f.result() is not None:
                            results[futs[f]] = f.result()
                    break
        return results, stopped

    def _map_dask(self, fn, jobs, ticker):
        from distributed import wait as dwait

        if self._pb_future is None:
            self._pb_future = self.client.scatter(self.pb, broadcast=True)
        futs = [self.client.submit(fn, self._pb_future, *args, None, pure=False) for args in jobs]
        index = {f.key: i for i, f in enumerate(futs)}
        results = [None] * len(jobs)
        pending = set(futs)
        stopped = False
        while pending:
            try:
                fin = dwait(list(pending), timeout=0.3, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                fin = set()
            except Exception as exc:  # distributed's own TimeoutError on older versions
                if "Timeout" not in type(exc).__name__:
                    raise
                fin = set()
            for f in fin:
                results[index[f.key]] = f.result()
                if ticker is not None:
                    ticker.tick()
            pending -= set(fin)
            if pending and self.cancel is not None and self.cancel():
                stopped = True
                self.client.cancel(list(pending))
                break
        return results, stopped
