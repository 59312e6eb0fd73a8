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

/** An SMS dialog's number and the appointment it is about are filled in. */
function dialogFilled(patient) {
    return [
        {
            content: "The dialog is about the patient, to the caller's number",
            // Read-only when the dialog opens for a patient, else an input.
            trigger: `.modal .o_field_widget[name=patient_id]:contains(${patient}), .modal .o_field_widget[name=patient_id] input:value(${patient})`,
        },
        {
            trigger: ".modal .o_field_widget[name=phone_id] input:value(123-45-67)",
        },
        {
            content: "and the appointment booked during the call",
            trigger: ".modal .o_field_widget[name=appointment_id] input:value(Ivanova Anna)",
        },
        {
            content: "Pick a template",
            trigger: ".modal .o_field_widget[name=template_id] input",
            run: "edit Booking confirmed",
        },
        {
            trigger: ".dropdown-item:contains(Booking confirmed)",
            run: "click",
        },
        {
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
        {
            content: "The dialog is closed",
            trigger: "body:not(:has(.modal))",
        },
    ];
}

// Started by tests/test_sms.py (TestSmsTour) while the user's call is in progress: its card
// is back at load.
registry.category("web_tour.tours").add("medpulse_sms_card_tour", {
    steps: () => [
        {
            content: "The card says the patient agrees to SMS",
            trigger: ".o_medpulse_card_talking .o_medpulse_card_consent_sms:contains(Agrees to SMS)",
        },
        {
            content: "Send an SMS from the card",
            trigger: ".o_medpulse_card_talking .o_medpulse_card_sms",
            run: "click",
        },
        ...dialogFilled("Ivanova Anna"),
        {
            content: "The card is still there",
            trigger: ".o_medpulse_card_talking .o_medpulse_card_patient_name:contains(Ivanova Anna)",
        },
    ],
});

// Started on the journal by tests/test_sms.py (TestSmsTour): the call's row has "Send SMS".
registry.category("web_tour.tours").add("medpulse_sms_journal_tour", {
    steps: () => [
        {
            content: "Send an SMS from the call's row",
            trigger: ".o_data_row:contains(Ivanova Anna) .o_medpulse_call_sms",
            run: "click",
        },
        ...dialogFilled("Ivanova Anna"),
    ],
});
