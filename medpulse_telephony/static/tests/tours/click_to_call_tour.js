import { registry } from "@web/core/registry";

// Started on a patient's form by tests/test_click_to_call.py, against a loopback PBX stub.
registry.category("web_tour.tours").add("medpulse_click_to_call_tour", {
    steps: () => [
        {
            content: "The patient's number has a call button",
            trigger: ".o_field_phone .o_medpulse_click_to_call",
            run: "click",
        },
        {
            content: "The operator is told to pick up their phone",
            trigger: ".o_notification.o_medpulse_calling:contains(pick up your phone)",
        },
    ],
});
