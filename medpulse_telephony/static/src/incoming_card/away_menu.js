import { Component, onWillStart, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";

/**
 * Systray switch of an operator between "on duty" and "away" (`res.users.medpulse_pbx_away`,
 * the user's own preference, also in My Preferences ▸ Telephony): one click. While away,
 * the round-robin gives the operator no new call-backs and colleagues see "Away" in the
 * card's transfer panel. Shown only to operators with a PBX extension.
 */
export class AwayMenu extends Component {
    static template = "medpulse_telephony.AwayMenu";
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.state = useState({ shown: false, away: false, busy: false });
        onWillStart(async () => {
            try {
                if (await user.hasGroup("medpulse_telephony.group_telephony_operator")) {
                    const [me] = await this.orm.silent.read(
                        "res.users",
                        [user.userId],
                        ["medpulse_pbx_extension", "medpulse_pbx_away"]
                    );
                    this.state.shown = Boolean(me?.medpulse_pbx_extension);
                    this.state.away = Boolean(me?.medpulse_pbx_away);
                }
            } catch {
                // Nothing to switch without a readable user: the item stays hidden.
            }
        });
    }

    get title() {
        return this.state.away
            ? _t("Away: no new call-backs. Click to go on duty.")
            : _t("On duty: click to go away (no new call-backs).");
    }

    async toggle() {
        if (this.state.busy) {
            return;
        }
        const away = !this.state.away;
        this.state.busy = true;
        try {
            await this.orm.write("res.users", [user.userId], { medpulse_pbx_away: away });
            this.state.away = away;
            this.notification.add(
                away ? _t("You are away: no new call-backs.") : _t("You are on duty."),
                { type: "info" }
            );
        } finally {
            this.state.busy = false;
        }
    }
}

registry
    .category("systray")
    .add("medpulse_telephony.AwayMenu", { Component: AwayMenu }, { sequence: 89 });
