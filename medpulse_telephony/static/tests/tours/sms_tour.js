import { registry } from "@web/core/registry";

// Started on a patient's form by tests/test_sms.py (TestSmsTour), against the PBX double.
registry.category("web_tour.tours").add("medpulse_sms_send_tour", {
    steps: () => [
        {
            content: "Send an SMS from the patient",
            trigger: "button.o_medpulse_sms_send",
            run: "click",
        },
        {
            content: "Pick a template",
            trigger: ".modal .o_field_widget[name=template_id] input",
            run: "edit Appointment reminder",
        },
        {
            trigger: ".dropdown-item:contains(Appointment reminder)",
            run: "click",
        },
        {
            content: "Its size is shown",
            trigger: ".modal .o_field_widget[name=size_info]:contains(SMS part)",
        },
        {
            content: "Send it",
            trigger: ".modal .o_medpulse_sms_send_button",
            run: "click",
        },
        {
            content: "The PBX accepted it",
            trigger: ".o_notification:contains(The PBX accepted the SMS)",
        },
    ],
});
