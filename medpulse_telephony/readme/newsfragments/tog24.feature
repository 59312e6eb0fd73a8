Under a load the folder folds up to 20 calls in one transaction, under all their locks,
instead of one transaction per call; if that transaction fails, the calls are folded again
one by one and only the call that cannot be folded is flagged. A transaction triggers each
cron once per moment, not once per recording or settled call. The webhook finds the PBX
account in a map each worker keeps (a change of a key, a salt or a company applies to the
next request), and a worker that finds the folder taken tries again after 50 ms instead of
after every request. (issue 24)
