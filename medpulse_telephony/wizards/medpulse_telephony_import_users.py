import json
import logging

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

import mango_vpbx

_logger = logging.getLogger(__name__)

PROTOCOL_KINDS = {"sip": "desk", "fmc": "mobile", "tel": "other"}


class MedpulseTelephonyImportUsers(models.TransientModel):
    """Import PBX employees' extensions and numbers onto Odoo users, after a preview.

    For administrators only, in one of the companies they work in: an extension decides
    whose browser shows the cards of a call, medical data included. Only the users of
    that company can be chosen, and only the lines the preview fetched from the PBX are
    written (lines cannot be created from the client).
    """

    _name = "medpulse.telephony.import.users"
    _inherit = ["medpulse.company.scoped"]
    _description = "Import PBX extensions"

    company_id = fields.Many2one("res.company", required=True, readonly=True)
    line_ids = fields.One2many(
        "medpulse.telephony.import.users.line", "wizard_id", string="Employees"
    )

    @api.model
    def _check_admin(self):
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only administrators can import PBX extensions."))

    @api.model
    def _action_open_preview(self, company):
        """Fetch the PBX's employees and open the preview of what will be written."""
        self._check_admin()
        if company not in self.env.companies:
            raise AccessError(_("This company is not one of the companies you are working in."))
        try:
            employees = company._medpulse_pbx_client().users()
        except mango_vpbx.VpbxError as error:
            raise UserError(company._medpulse_pbx_error_text(error)) from error
        wizard = self.create({"company_id": company.id})
        wizard._load_preview(employees)
        return {
            "type": "ir.actions.act_window",
            "name": _("Import PBX extensions"),
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    def _load_preview(self, employees):
        self.ensure_one()
        Users = self.env["res.users"].with_context(active_test=False)
        lines = []
        for employee in employees:
            name = (employee.name or "").strip()
            email = (employee.email or "").strip()
            user, match = Users.browse(), "none"
            if email:
                user = Users.search(
                    ["|", ("email", "=ilike", email), ("login", "=ilike", email),
                     ("company_ids", "in", self.company_id.ids), ("share", "=", False)],
                    limit=1,
                )
                match = "email" if user else "none"
            if not user and name:
                user = Users.search(
                    [("name", "=ilike", name), ("company_ids", "in", self.company_id.ids),
                     ("share", "=", False)],
                    limit=1,
                )
                match = "name" if user else "none"
            numbers = _employee_numbers(employee)
            lines.append({
                "wizard_id": self.id,
                "pbx_name": name,
                "pbx_email": email,
                "extension": employee.extension or False,
                "pbx_user_id": str(employee.user_id) if employee.user_id else False,
                "numbers_json": json.dumps(numbers),
                "numbers_display": "\n".join(number for number, _kind in numbers),
                "user_id": user.id or False,
                "match": match,
                "selected": bool(user),
            })
        self.env["medpulse.telephony.import.users.line"].with_context(
            medpulse_import_preview=True
        ).create(lines)

    def action_apply(self):
        """Write extensions, PBX ids and numbers onto the matched users."""
        self.ensure_one()
        self._check_admin()
        self._check_allowed_company()
        company = self.company_id
        Users = self.env["res.users"].sudo()
        Number = self.env["medpulse.telephony.user.number"].sudo()
        chosen = self.line_ids.filtered(lambda line: line.selected and line.user_id)
        outsiders = chosen.user_id.filtered(
            lambda user: user.share or company not in user.company_ids
        )
        if outsiders:
            raise UserError(_(
                "%(users)s cannot get an extension of %(company)s: "
                "not an internal user of this company.",
                users=", ".join(outsiders.mapped("name")), company=company.name,
            ))
        extensions = [line.extension for line in chosen if line.extension]
        # The PBX is the source of truth for extensions: free them from whoever had them.
        Users.search([
            ("medpulse_pbx_extension", "in", extensions), ("company_id", "=", company.id),
            ("id", "not in", chosen.user_id.ids),
        ]).write({"medpulse_pbx_extension": False})
        for line in chosen:
            user = line.user_id.sudo()
            user.write(
                {
                    "medpulse_pbx_extension": line.extension or False,
                    "medpulse_pbx_user_id": line.pbx_user_id or False,
                }
            )
            Number.search([("user_id", "=", user.id), ("company_id", "=", company.id)]).unlink()
            Number.create(
                [
                    {
                        "user_id": user.id,
                        "company_id": company.id,
                        "number": number,
                        "kind": kind,
                        "sequence": index,
                    }
                    for index, (number, kind) in enumerate(json.loads(line.numbers_json or "[]"))
                ]
            )
        _logger.info("Imported PBX extensions of %s users for company %s", len(chosen), company.id)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("PBX extensions imported"),
                "message": _("%s users updated.", len(chosen)),
                "type": "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }


class MedpulseTelephonyImportUsersLine(models.TransientModel):
    _name = "medpulse.telephony.import.users.line"
    _description = "PBX employee to import"

    #: What the administrator may change in the preview; the rest comes from the PBX.
    _CHOICE_FIELDS = frozenset({"selected", "user_id"})

    wizard_id = fields.Many2one(
        "medpulse.telephony.import.users", required=True, ondelete="cascade"
    )
    selected = fields.Boolean(string="Import", default=True)
    pbx_name = fields.Char(string="PBX employee", readonly=True)
    pbx_email = fields.Char(string="PBX e-mail", readonly=True)
    extension = fields.Char(readonly=True)
    pbx_user_id = fields.Char(string="PBX user id", readonly=True)
    numbers_display = fields.Text(string="Numbers", readonly=True)
    numbers_json = fields.Text(readonly=True)
    user_id = fields.Many2one("res.users", string="Odoo user", domain=[("share", "=", False)])
    match = fields.Selection(
        [("email", "By e-mail"), ("name", "By name"), ("none", "Not found")],
        string="Matched", readonly=True,
    )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.context.get("medpulse_import_preview") and not self.env.su:
            raise AccessError(_("The employees to import come from the PBX only."))
        return super().create(vals_list)

    def write(self, vals):
        if set(vals) - self._CHOICE_FIELDS and not self.env.su:
            raise AccessError(_("Only the choice of the user to import can be changed."))
        return super().write(vals)


def _employee_numbers(employee):
    """(number, kind) of a PBX employee's devices, without duplicates, in ringing order."""
    found = [(n.number, PROTOCOL_KINDS.get(n.protocol, "other")) for n in employee.numbers]
    found += [(sip, "softphone") for sip in employee.sips]
    if employee.mobile:
        found.append((employee.mobile, "mobile"))
    seen, result = set(), []
    for number, kind in found:
        if number and number.lower() not in seen:
            seen.add(number.lower())
            result.append((number, kind))
    return result
