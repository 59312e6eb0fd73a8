from contextlib import contextmanager

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

# Key of the per-event operator memo in the cursor's cache (see _medpulse_pbx_operator_memo).
_OPERATOR_MEMO = "medpulse_telephony.pbx_operators"
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

    @contextmanager
    def _medpulse_pbx_operator_memo(self):
        """Within the block, each PBX extension or number is looked up once.

        One webhook event resolves the same parties for the journal, the incoming-call
        card and the recordings (3 to 6 searches each time); nothing in between changes
        users or their numbers, so the answer can be shared. Scoped to the block, never
        to the transaction: a transaction may go on after users are edited (tests,
        shell, reconciliation of many calls), and a stale answer would be wrong.
        """
        cache = self.env.cr.cache
        if _OPERATOR_MEMO in cache:
            yield
            return
        cache[_OPERATOR_MEMO] = {}
        try:
            yield
        finally:
            cache.pop(_OPERATOR_MEMO, None)

    @api.model
    def _medpulse_find_pbx_operators(self, company, extensions=(), numbers=()):
        """Users of ``company`` matching PBX extensions or device numbers.

        A leg rings an operator by extension; when the PBX sends no extension, by the
        number of one of the operator's devices (``medpulse.telephony.user.number``).
        All the extensions are resolved in one search and all the numbers in another;
        inside :meth:`_medpulse_pbx_operator_memo`, only those not resolved before are searched.
        """
        extensions, numbers = tuple(extensions), tuple(numbers)
        by_extension, by_number = self._medpulse_pbx_operator_ids(company, extensions, numbers)
        ids = [uid for ext in extensions if ext for uid in by_extension[ext]]
        ids += [uid for number in numbers if number for uid in by_number[number]]
        return self.browse(dict.fromkeys(ids))

    @api.model
    def _medpulse_find_pbx_operator(self, company, extension=None, number=None):
        """The one operator of a PBX party: by extension first, else by device number."""
        if extension:
            ids = self._medpulse_pbx_operator_ids(company, (extension,), ())[0][extension]
            if ids:
                return self.browse(ids[0])
        if number:
            ids = self._medpulse_pbx_operator_ids(company, (), (number,))[1][number]
            if ids:
                return self.browse(ids[0])
        return self.browse()

    @api.model
    def _medpulse_pbx_operator_ids(self, company, extensions, numbers):
        """({extension: user ids}, {number: user ids}) for the given parties.

        Ids are in the order the former one-party searches returned them (users by
        name and login; device numbers by user, sequence, id), so the first id is the
        operator :meth:`_medpulse_find_pbx_operator` always picked.
        """
        memo = self.env.cr.cache.get(_OPERATOR_MEMO)
        if memo is None:
            memo = {}
        by_extension = memo.setdefault(("extension", company.id), {})
        by_number = memo.setdefault(("number", company.id), {})
        missing = [ext for ext in dict.fromkeys(extensions) if ext and ext not in by_extension]
        if missing:
            # Inactive users too: an archived operator still names who took a past call.
            users = self.sudo().with_context(active_test=False).search_fetch(
                [("medpulse_pbx_extension", "in", missing), ("company_ids", "in", company.ids)],
                ["medpulse_pbx_extension"],
            )
            found = {ext: [] for ext in missing}
            for user in users:
                found[user.medpulse_pbx_extension].append(user.id)
            by_extension.update((ext, tuple(ids)) for ext, ids in found.items())
        missing = [
            number for number in dict.fromkeys(numbers) if number and number not in by_number
        ]
        if missing:
            Number = self.env["medpulse.telephony.user.number"].sudo()
            keys = {number: Number._number_keys(company, number)[1] for number in missing}
            found = {key: [] for key in keys.values() if key}
            if found:
                devices = Number.search_fetch(
                    [("number_key", "in", list(found)), ("company_id", "=", company.id)],
                    ["number_key", "user_id"],
                )
                for device in devices:
                    if device.user_id.id not in found[device.number_key]:
                        found[device.number_key].append(device.user_id.id)
            by_number.update((number, tuple(found.get(key, ()))) for number, key in keys.items())
        return by_extension, by_number
