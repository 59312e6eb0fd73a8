from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import ormcache

#: What the PBX directory of a company (``_medpulse_pbx_directory``) is made of.
_DIRECTORY_FIELDS = ("medpulse_pbx_extension", "company_ids", "name", "login")
#: The user's own preferences: the card (sound, desktop notifications), call-backs (away).
_SELF_WRITEABLE = ("medpulse_pbx_sound", "medpulse_pbx_desktop_notify", "medpulse_pbx_away")


class ResUsers(models.Model):
    _inherit = "res.users"

    medpulse_pbx_extension = fields.Char(
        string="PBX extension",
        copy=False,
        index="btree_not_null",
        help="The user's short number on the PBX, as a string: leading zeros matter (0511).",
    )
    medpulse_pbx_user_id = fields.Char(
        string="PBX user id", copy=False, help="The employee's user_id in the PBX."
    )
    medpulse_pbx_number_ids = fields.One2many(
        "medpulse.telephony.user.number", "user_id", string="PBX numbers",
        help="Devices the PBX rings for this user: desk SIP phone, softphone, mobile.",
    )
    medpulse_pbx_callback_line_id = fields.Many2one(
        "medpulse.telephony.line",
        string="Line for my calls",
        help="The clinic number patients see when this user calls them from Odoo; "
        "overrides the company's line for click-to-call.",
    )
    medpulse_pbx_away = fields.Boolean(
        string="Away (no call-backs)",
        help="While away, the round-robin gives this operator no new call-backs.",
    )
    medpulse_pbx_away_since = fields.Datetime(
        string="Away since",
        compute="_compute_medpulse_pbx_away_since",
        store=True,
        help="When the operator went away: the wallboard says for how long.",
    )
    # Issue 20: how the incoming-call card reaches the user (My Preferences ▸ Telephony).
    medpulse_pbx_sound = fields.Boolean(
        string="Ring in the browser",
        default=True,
        help="While a call rings, one tab of this browser plays a ringtone.",
    )
    medpulse_pbx_desktop_notify = fields.Boolean(
        string="Desktop notifications",
        default=True,
        help="While a call rings and Odoo is not in front, the computer shows a notification "
        "with the number and the line; clicking it brings Odoo's tab back.",
    )

    _sql_constraints = [
        (
            "medpulse_pbx_extension_company_uniq",
            "UNIQUE(company_id, medpulse_pbx_extension)",
            "Another user of this company already has this PBX extension.",
        ),
    ]

    @property
    def SELF_READABLE_FIELDS(self):
        return super().SELF_READABLE_FIELDS + [
            "medpulse_pbx_extension", "medpulse_pbx_user_id", "medpulse_pbx_number_ids",
            "medpulse_pbx_callback_line_id", *_SELF_WRITEABLE,
        ]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        # Internal users only: portal and public users get no incoming-call card.
        own = [] if self.env.user.share else list(_SELF_WRITEABLE)
        return super().SELF_WRITEABLE_FIELDS + own

    @api.depends("medpulse_pbx_away")
    def _compute_medpulse_pbx_away_since(self):
        for user in self:
            if not user.medpulse_pbx_away:
                user.medpulse_pbx_away_since = False
            elif not user.medpulse_pbx_away_since:
                user.medpulse_pbx_away_since = fields.Datetime.now()

    def write(self, vals):
        result = super().write(vals)
        if set(vals) & set(_DIRECTORY_FIELDS):
            self._medpulse_pbx_directory_changed()
        if "medpulse_pbx_away" in vals:
            # Away or back on duty: the supervisors' wallboards show it at once.
            self.env["medpulse.wallboard"]._notify_users(self)
        return result

    @api.constrains("medpulse_pbx_extension")
    def _check_medpulse_medpulse_pbx_extension(self):
        for user in self:
            if user.medpulse_pbx_extension and not user.medpulse_pbx_extension.isdigit():
                raise ValidationError(
                    _(
                        "A PBX extension is made of digits only (got %s).",
                        user.medpulse_pbx_extension,
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        users = super().create(vals_list)
        if any(vals.get("medpulse_pbx_extension") for vals in vals_list):
            self._medpulse_pbx_directory_changed()
        return users

    def unlink(self):
        if any(self.sudo().mapped("medpulse_pbx_extension")):
            self._medpulse_pbx_directory_changed()
        return super().unlink()

    @api.model
    def _medpulse_pbx_directory_changed(self):
        """Who has which extension or device changed: the directory every worker keeps
        (:meth:`_medpulse_pbx_directory`) is read again. Odoo's cache invalidation: this
        process at once, the others at their next request."""
        self.env.registry.clear_cache()

    @api.model
    @ormcache("company_id")
    def _medpulse_pbx_directory(self, company_id):
        """``({extension: user ids}, {device number key: user ids})`` of a company.

        Every PBX event resolves its parties (the journal, the card, the recordings, the
        wallboard): kept by each worker until an extension, a device, a user's companies,
        name or login changes (``write``, ``create`` and ``unlink`` of the users and of
        ``medpulse.telephony.user.number``, the company's default region), instead of two
        searches per event. Ids are in the order the one-party searches returned them
        (users by name and login; devices by user, sequence, id), so the first id is the
        operator :meth:`_medpulse_find_pbx_operator` always picked. Inactive users too: an
        archived operator still names who took a past call. Never modify the result.
        """
        users = self.sudo().with_context(active_test=False).search_fetch(
            [("medpulse_pbx_extension", "!=", False), ("company_ids", "in", [company_id])],
            ["medpulse_pbx_extension"],
        )
        by_extension = {}
        for user in users:
            by_extension.setdefault(user.medpulse_pbx_extension, []).append(user.id)
        devices = self.env["medpulse.telephony.user.number"].sudo().search_fetch(
            [("number_key", "!=", False), ("company_id", "=", company_id)],
            ["number_key", "user_id"],
        )
        by_key = {}
        for device in devices:
            ids = by_key.setdefault(device.number_key, [])
            if device.user_id.id not in ids:
                ids.append(device.user_id.id)
        return (
            {ext: tuple(ids) for ext, ids in by_extension.items()},
            {key: tuple(ids) for key, ids in by_key.items()},
        )

    @api.model
    def _medpulse_find_pbx_operators(self, company, extensions=(), numbers=()):
        """Users of ``company`` matching PBX extensions or device numbers.

        A leg rings an operator by extension; when the PBX sends no extension, by the
        number of one of the operator's devices (``medpulse.telephony.user.number``),
        both from the company's directory (:meth:`_medpulse_pbx_directory`).
        """
        by_extension, by_key = self._medpulse_pbx_directory(company.id)
        Number = self.env["medpulse.telephony.user.number"]
        ids = [uid for ext in extensions if ext for uid in by_extension.get(ext, ())]
        ids += [
            uid for number in numbers if number
            for uid in by_key.get(Number._number_keys(company, number)[1], ())
        ]
        return self.browse(dict.fromkeys(ids))

    @api.model
    def _medpulse_find_pbx_operator(self, company, extension=None, number=None):
        """The one operator of a PBX party: by extension first, else by device number."""
        return (
            self._medpulse_find_pbx_operators(company, extensions=(extension,))[:1]
            or self._medpulse_find_pbx_operators(company, numbers=(number,))[:1]
        )
