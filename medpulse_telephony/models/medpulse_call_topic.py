from odoo import api, fields, models


class MedpulseCallTopic(models.Model):
    """A topic the PBX's speech analytics recognised in calls ("Booking", "Complaint").

    Created on first sight from ``queries/recording_categories`` (the names are the
    PBX's, set up in its speech-analytics rules), per company; calls and recordings
    link them, so the journal filters and the reports group by topic.
    """

    _name = "medpulse.call.topic"
    _description = "Call topic"
    _order = "name"

    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    name = fields.Char(required=True, help="As the PBX's speech analytics names it.")
    call_count = fields.Integer(compute="_compute_call_count", string="Calls")

    _sql_constraints = [
        ("name_unique", "unique(company_id, name)", "This topic already exists."),
    ]

    def _compute_call_count(self):
        counts = dict(
            self.env["medpulse.call"]._read_group(
                [("topic_ids", "in", self.ids)], ["topic_ids"], ["__count"]
            )
        )
        for topic in self:
            topic.call_count = counts.get(topic, 0)

    @api.model
    def _get_or_create(self, company, names):
        """The topics called ``names`` in ``company``, the missing ones created."""
        names = list(dict.fromkeys(n.strip()[:256] for n in names if n and n.strip()))
        if not names:
            return self.browse()
        found = self.search([("company_id", "=", company.id), ("name", "in", names)])
        missing = [n for n in names if n not in set(found.mapped("name"))]
        if missing:
            found |= self.create([{"company_id": company.id, "name": n} for n in missing])
        return found
