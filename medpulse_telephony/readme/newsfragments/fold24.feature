Two folders side by side: the calls fall into two shares by their entry id, each with its
own folder, so that under a load both HTTP workers fold the journal at once (a call's
events are still folded in their order, by one folder at a time). (issue 24)
