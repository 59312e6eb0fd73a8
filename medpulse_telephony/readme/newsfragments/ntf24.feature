Each Odoo process sends the bus's "new messages" signal (PostgreSQL's NOTIFY) through one
connection it keeps, instead of opening a new connection to PostgreSQL for every transaction
that sent a bus message: most PBX events send one (the card, the journal's lists). Messages
and their timing are unchanged; a broken connection is opened again. (issue 24)
