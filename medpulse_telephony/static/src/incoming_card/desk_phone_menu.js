import { Component, onWillStart, useState } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";
import { getBoundDevice, setBoundDevice } from "./incoming_card_service";

/**
 * Systray choice of this browser's desk phone, for a login shared by several desks:
 * a bound browser shows only the cards of calls ringing its phone. Shown only to users
 * with at least one PBX device.
 */
export class DeskPhoneMenu extends Component {
    static template = "medpulse_telephony.DeskPhoneMenu";
    static components = { Dropdown, DropdownItem };
    static props = {};

    setup() {
        this.orm = useService("orm");
        this.state = useState({ devices: [], bound: getBoundDevice() });
        onWillStart(async () => {
            try {
                if (await user.hasGroup("medpulse_telephony.group_telephony_operator")) {
                    this.state.devices = await this.orm.silent.searchRead(
                        "medpulse.telephony.user.number",
                        [["user_id", "=", user.userId]],
                        ["number", "kind"]
                    );
                }
            } catch {
                // Without readable devices there is nothing to bind: the menu stays hidden.
            }
        });
    }

    bind(deviceId) {
        setBoundDevice(deviceId);
        this.state.bound = deviceId || false;
    }
}

registry
    .category("systray")
    .add("medpulse_telephony.DeskPhoneMenu", { Component: DeskPhoneMenu }, { sequence: 90 });
