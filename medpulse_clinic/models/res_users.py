from odoo import models


class ResUsers(models.Model):
    _inherit = "res.users"

    def write(self, vals):
        """Keep the time zone an administrator gave a user at the user's first login.

        At a first login Odoo replaces the user's zone with the browser's (and, for the
        administrator, moves the company's working calendar to it). A clinic works in its
        own zone, whatever zone a receptionist's computer is set to: the schedule, "today"
        and the working hours must stay the clinic's. A user without a zone still gets the
        browser's. Nobody else writes a user's zone before their first login: the
        preferences need a session, and an administrator writes as another user.
        """
        if (
            set(vals) == {"tz"}
            and len(self) == 1
            and self.env.uid == self.id
            and self.tz
            and not self.login_date
        ):
            return True
        return super().write(vals)
