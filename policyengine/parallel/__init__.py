"""`eval --workers N`: members split across N processes, decisions merged back into one order.

Each worker keeps the one event clock — watermark, late events, timers due — so time runs
exactly as on one worker; it runs the rules only for its share of members (a stable hash of
`user` into 1 024 buckets, the buckets shared out so the head of the log's events fall evenly:
balanced_partition). That is exact only for programs whose state all belongs to the event's member
(compiler/partition.py says which); a leaderboard of members' own scores is ranked whole at each
close, every worker writing its members' part to the spool and reading the others'
(ShareEvaluator._combine_board). Every decision is tagged with where one worker would have made
it — the number of the event, timers before the event's own rules, due timers in (due, setting
event, place among the timer's decisions) order — and the streams are merged on that tag.

Each worker reads every line, but decodes only its own members' events: a scan in C
(events/_route.c) gives it the time alone of another share's event, which is all its clock
needs. The scan of each line is made by one worker, blocks of lines in turn, and shared with the
others through memory they inherit (events/routing.py: Exchange); each worker makes its scans of
the next chunk before it runs the rules on this one (ShareEvaluator.batches). A worker's chunks
are spans of the bytes read, and its loop is handed only its own lines and the times its clock
does not take cleanly (routed): another share's line never becomes a Python object. A line the
scan is not sure of, every worker decodes and judges as before. If a line the scan was sure of is
refused by the decoder after all, the other workers' clocks are wrong: the run stops and eval
runs again on one worker, with a note. So it does if a worker dies without an answer.

The stages, a module each: balance.py shares the members' buckets out; workers.py forks the
worker processes and gathers their answers; share.py is the evaluator each runs; merge.py puts
their spooled decisions back in one worker's order.
"""
from __future__ import annotations

from policyengine.parallel.balance import BUCKETS, SAMPLE_LINES, STRETCHES, WINDOW, balanced_partition
from policyengine.parallel.merge import merged
from policyengine.parallel.share import (END, FIRST_EVENT, GONE, PEER_GONE, BoardOverlap, PeerGone, ShareEvaluator,
                                         timer_key)
from policyengine.parallel.workers import Job, SharesRan, run_shares

__all__ = ["BUCKETS", "END", "FIRST_EVENT", "GONE", "PEER_GONE", "SAMPLE_LINES", "STRETCHES", "WINDOW", "BoardOverlap",
           "Job", "PeerGone", "ShareEvaluator", "SharesRan", "balanced_partition", "merged", "run_shares", "timer_key"]
