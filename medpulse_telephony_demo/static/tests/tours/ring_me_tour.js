import { registry } from "@web/core/registry";
import { telephonyPreferencesSteps } from "@medpulse_telephony/../tests/tours/preferences_tour";

// With the demo addon, the Telephony tab of My Preferences offers "Ring me".
registry.category("web_tour.tours").add("medpulse_telephony_demo_ring_me_tour", {
    url: "/odoo",
    steps: () =>
        telephonyPreferencesSteps([
            {
                content: "It offers Ring me",
                trigger: ".modal button[name=action_medpulse_ring_me]",
            },
        ]),
});
