import logging

from odoo import _, api, fields, models
from odoo.tools import SQL

import mango_vpbx

_logger = logging.getLogger(__name__)


class MedpulseTelephonyLine(models.Model):
    """A number of the clinic on the PBX (what a patient dials), with a human name."""

    _name = "medpulse.telephony.line"
    _description = "PBX line"
    _order = "sequence, name"

    name = fields.Char(
        required=True, translate=False, help="Human name, e.g. 'Main number', 'Ufa branch'."
    )
    sequence = fields.Integer(default=10)
    number = fields.Char(
        required=True, index=True,
        help="The line as the PBX sends it in line_number: digits or a SIP URI.",
    )
    number_e164 = fields.Char(string="Number (E.164)", index="btree_not_null", readonly=True)
    pbx_line_id = fields.Char(string="PBX line id", readonly=True)
    pbx_schema_name = fields.Char(string="Call routing scheme", readonly=True)
    pbx_region = fields.Char(string="PBX region", readonly=True)
    comment = fields.Char()
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    active = fields.Boolean(default=True)
    call_count = fields.Integer(compute="_compute_call_count")

    _sql_constraints = [
        ("number_company_uniq", "UNIQUE(company_id, number)", "This line already exists."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records._update_number_e164()
        return records

    def write(self, vals):
        res = super().write(vals)
        if "number" in vals or "company_id" in vals:
            self._update_number_e164()
        return res

    def _update_number_e164(self):
        for line in self:
            e164 = line.company_id._medpulse_pbx_normalize(line.number)
            if line.number_e164 != e164:
                line.number_e164 = e164

    def _compute_call_count(self):
        counts = dict(
            self.env["medpulse.call"]._read_group(
                [("line_id", "in", self.ids)], ["line_id"], ["__count"]
            )
        )
        for line in self:
            line.call_count = counts.get(line, 0)

    @api.model
    def _get_or_create(self, company, number):
        """The line a call came in on, created on first sight with a readable name.

        Two workers can see the first call on a new line at once: the insert is
        ``ON CONFLICT DO NOTHING``, so the second one gets a serialization failure
        (retried by the request dispatcher) instead of a unique violation.
        """
        if not number:
            return self.browse()
        domain = [("company_id", "=", company.id), ("number", "=", number)]
        line = self.with_context(active_test=False).search(domain, limit=1)
        if line:
            return line
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO medpulse_telephony_line
                    (company_id, number, number_e164, name, sequence, active,
                     create_uid, create_date, write_uid, write_date)
                VALUES (%s, %s, %s, %s, 10, TRUE, %s, %s, %s, %s)
                ON CONFLICT (company_id, number) DO NOTHING
                RETURNING id
                """,
                company.id,
                number,
                company._medpulse_pbx_normalize(number) or None,
                mango_vpbx.phones.format_number(number, company.medpulse_pbx_default_region or "RU")
                or number,
                self.env.uid,
                now,
                self.env.uid,
                now,
            ),
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        if row:
            return self.browse(row[0])
        return self.with_context(active_test=False).search(domain, limit=1)

    @api.model
    def _import_from_pbx(self, company):
        """Create or update the lines from the PBX's ``incominglines``.

        A name already given in Odoo is kept: the PBX's own name is often technical.
        """
        lines = company._medpulse_pbx_client().lines()
        result = self.browse()
        for pbx_line in lines:
            number = pbx_line.number
            line = self.with_context(active_test=False).search(
                [("company_id", "=", company.id), ("number", "=", number)], limit=1
            )
            vals = {
                "pbx_line_id": str(pbx_line.line_id) if pbx_line.line_id else False,
                "pbx_schema_name": pbx_line.schema_name or False,
                "pbx_region": pbx_line.region or False,
                "comment": pbx_line.comment or False,
            }
            if line:
                line.write(vals)
            else:
                vals.update({
                    "company_id": company.id,
                    "number": number,
                    "name": pbx_line.name or mango_vpbx.phones.format_number(number) or number,
                })
                line = self.create(vals)
            result |= line
        _logger.info("Imported %s PBX lines for company %s", len(result), company.id)
        return result

    def action_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "medpulse_telephony.medpulse_call_action"
        )
        action["domain"] = [("line_id", "=", self.id)]
        action["context"] = {}
        action["display_name"] = _("Calls on %s", self.name)
        return action

