import { Component } from "@odoo/owl";
import { session } from "@web/session";

/**
 * The "call via PBX" button next to a phone number; shown only to operators who have
 * a PBX extension (the server says so in the session info).
 */
export class ClickToCallButton extends Component {
    static template = "medpulse_telephony.ClickToCallButton";
    static props = {
        number: { type: String },
        resModel: { type: String, optional: true },
        resId: { type: [Number, Boolean], optional: true },
    };

    static get available() {
        return Boolean(session.medpulse_telephony_can_call);
    }

    async onClick(ev) {
        // In a list, the row must not open.
        ev.stopPropagation();
        ev.preventDefault();
        await this.env.services.medpulse_click_to_call.call(this.props.number, {
            resModel: this.props.resModel,
            resId: this.props.resId,
        });
    }
}
