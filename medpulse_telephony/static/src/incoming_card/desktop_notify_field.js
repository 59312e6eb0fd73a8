import { useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { BooleanField, booleanField } from "@web/views/fields/boolean/boolean_field";

/**
 * "Desktop notifications" in My Preferences: the checkbox, and what this browser allows.
 * Ticking it asks the browser's permission (once: the browser remembers the answer);
 * "Allow in this browser" asks again for a user who ticked it elsewhere.
 */
export class DesktopNotifyField extends BooleanField {
    static template = "medpulse_telephony.DesktopNotifyField";

    setup() {
        super.setup();
        this.permission = useState(useService("mail.notification.permission"));
    }

    onChange(newValue) {
        super.onChange(newValue);
        if (newValue) {
            this.permission.requestPermission();
        }
    }
}

registry.category("fields").add("medpulse_desktop_notify", {
    ...booleanField,
    component: DesktopNotifyField,
});
