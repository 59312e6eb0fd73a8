When a call is answered or ends, a card the operator has on screen gets only what changed (its
status, who answered and when, the follow-up and, once ended, the outcomes) instead of the
whole card with the caller's patients read again; a browser that does not have the card
(opened after it rang) asks for it whole. (issue 24)
