import { patch } from "@web/core/utils/patch";
import { PhoneField } from "@web/views/fields/phone/phone_field";
import { ClickToCallButton } from "./click_to_call_button";

// Like sms's "SMS" button: every phone field of the web client gets a "call via PBX" button.
patch(PhoneField, {
    components: { ...PhoneField.components, ClickToCallButton },
});

patch(PhoneField.prototype, {
    get showClickToCall() {
        return ClickToCallButton.available && Boolean(this.props.record.data[this.props.name]);
    },
    get clickToCallProps() {
        const record = this.props.record;
        return {
            number: record.data[this.props.name],
            resModel: record.resModel,
            resId: record.resId || false,
        };
    },
});
