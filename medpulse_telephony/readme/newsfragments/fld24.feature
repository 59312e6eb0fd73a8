The webhook answers the PBX as soon as its event is stored; a thread of the worker then
folds the events waiting to be folded if no other process is folding (one "folder" per
database, shared by every worker and instance), and leaves them to the process that is
otherwise. Under a load the events of a call pile up while one thread folds and are folded
together: a call is recomputed once for several of its events, so the journal keeps up with
about half as many events again per second on the same two workers. A quiet clinic's card
still comes at once. (issue 24)
