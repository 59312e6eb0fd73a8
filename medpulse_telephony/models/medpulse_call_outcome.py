from odoo import api, fields, models, tools

#: What a call produced, as the card proposes it (see ``static/src/incoming_card/``).
OUTCOME_CODES = [
    ("booked", "Booked"),
    ("confirmed", "Appointment confirmed"),
    ("rescheduled", "Rescheduled"),
    ("cancelled", "Cancelled"),
    ("information", "Information given"),
    ("wrong_number", "Wrong number"),
    ("complaint", "Complaint"),
    ("other", "Other"),
]


class MedpulseCallOutcome(models.Model):
    """How a call ended for the clinic: the list operators pick from on the card or the
    journal form.

    The shipped outcomes belong to no company (every company sees them); a company adds
    its own or archives the shipped ones. ``code`` says what an outcome means to the
    program: the card proposes the ``booked`` one after a booking, and outcomes marked
    "Note on the patient" leave one line in the patient's chatter. The card's appointment
    actions (issue 22: confirm, move, cancel, book a free time) set the outcome of their
    meaning themselves (:meth:`_for_code`).
    """

    _name = "medpulse.call.outcome"
    _description = "Call outcome"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    code = fields.Selection(
        OUTCOME_CODES,
        string="Meaning",
        help="What the outcome means to the program: the card proposes \"Booked\" once an "
        "appointment was booked from it.",
    )
    company_id = fields.Many2one(
        "res.company", index=True,
        help="Empty: the outcome is offered in every company.",
    )
    log_on_patient = fields.Boolean(
        string="Note on the patient",
        help="A call with this outcome leaves a note in the patient's chatter (a booking, a "
        "cancellation, a complaint); the other calls are only in the patient's call list.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # _offered
        return super().create(vals_list)

    def write(self, vals):
        # A name translated in the translation dialog is written again too (Odoo's
        # _update_field_translations).
        self.env.registry.clear_cache()  # _offered
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()  # _offered
        return super().unlink()

    @api.model
    @tools.ormcache("company_id", "lang")
    def _offered(self, company_id, lang):
        """``[[id, name in lang, code]]`` of the outcomes ``company_id`` offers, in their
        order: what every ended card of the company shows (``medpulse.call.
        _card_outcome_data``), kept per worker until an outcome changes."""
        outcomes = self.sudo().with_context(lang=lang).search(
            ["|", ("company_id", "=", False), ("company_id", "=", company_id)]
        )
        return tuple((o.id, o.name, o.code or False) for o in outcomes)

    @api.model
    def _for_code(self, code, company):
        """The outcome meaning ``code`` that ``company`` offers (its own first)."""
        return self.sudo().search(
            [("code", "=", code), "|", ("company_id", "=", False),
             ("company_id", "=", company.id)],
            order="company_id, sequence, id", limit=1,
        )
