The wallboard's push sends only the variants some board shows (with names, without, TV):
each board's read keeps its own variant's pushes on. The "no event" banner's check reads the
working calendar only when the last event is older than the threshold, and formatted numbers
are remembered. A push reads 19 statements instead of 30 with 30 live calls; with 30 open
boards the saturated webhook keeps 0.95–0.98 of its throughput at 1M calls (0.89 before). (issue 23)
