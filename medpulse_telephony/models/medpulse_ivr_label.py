from odoo import _, api, fields, models
from odoo.tools import SQL

#: The PBX's name of the voice menu's first level.
MAIN_MENU = "ivr"


class MedpulseIvrLabel(models.Model):
    """A place in the company's voice menu (``ivr``, ``ivr.2``...) and what it means.

    ``location`` is the PBX's name of the place (``events/dtmf``): ``ivr`` the main
    menu, ``ivr.2`` the item reached by pressing 2 in it. Every place a caller reached
    is recorded here on first sight, without a label; a telephony manager writes the
    label ("Cancel or move an appointment") once, and every call shows and reports it,
    past ones included, since calls link the place, not its text.
    """

    _name = "medpulse.ivr.label"
    _description = "Voice menu item"
    _order = "location"
    _rec_names_search = ["location", "name"]

    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    location = fields.Char(
        required=True, help="As the PBX names it: ivr is the main menu, ivr.2 the item "
        "reached by pressing 2 in it.",
    )
    name = fields.Char(string="Label", help="What the item is for, as operators will read it.")

    _sql_constraints = [
        ("location_unique", "unique(company_id, location)",
         "This place of the voice menu already has a label."),
    ]

    @api.depends("location", "name")
    def _compute_display_name(self):
        for label in self:
            label.display_name = (
                f"{label.location}: {label.name}" if label.name else label.location or ""
            )

    def _label_text(self, location):
        """How the card names ``location``: its label, else "the main menu" or the location."""
        own = self.filtered(lambda label: label.location == location)[:1]
        if own.name:
            return own.name
        return _("the main menu") if location == MAIN_MENU else location

    @api.model
    def _get_or_create(self, company, locations):
        """The labels of ``locations`` in ``company``, the missing ones created empty.

        Like ``medpulse.telephony.line._get_or_create``: two workers seeing a new place at
        once insert ``ON CONFLICT DO NOTHING``, so the second gets a serialization failure
        (retried by the dispatcher) rather than a unique violation.
        """
        wanted = sorted({loc for loc in locations if loc})
        if not wanted:
            return self.browse()
        found = self.search([("company_id", "=", company.id), ("location", "in", wanted)])
        for location in set(wanted) - set(found.mapped("location")):
            now = fields.Datetime.now()
            self.env.cr.execute(
                SQL(
                    """
                    INSERT INTO medpulse_ivr_label
                        (company_id, location, create_uid, create_date, write_uid, write_date)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (company_id, location) DO NOTHING
                    """,
                    company.id, location, self.env.uid, now, self.env.uid, now,
                ),
                log_exceptions=False,
            )
        if len(found) < len(wanted):
            found = self.search([("company_id", "=", company.id), ("location", "in", wanted)])
        return found
