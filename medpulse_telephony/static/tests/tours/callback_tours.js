import { registry } from "@web/core/registry";
import { telephonyPreferencesSteps } from "./preferences_tour";

// An operator marks themselves away in My Preferences: the round-robin of call-backs skips them.
registry.category("web_tour.tours").add("medpulse_callback_away_tour", {
    url: "/odoo",
    steps: () =>
        telephonyPreferencesSteps(
            [
                {
                    content: "Tick Away",
                    trigger: ".modal .o_field_widget[name=medpulse_pbx_away] input",
                    run: "click",
                },
            ],
            { save: true }
        ),
});

// The systray switch: one click from on duty to away, the state shown.
registry.category("web_tour.tours").add("medpulse_callback_away_systray_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "On duty, shown in the systray",
            trigger: ".o_medpulse_away_toggle.o_medpulse_on_duty:contains(On duty)",
            run: "click",
        },
        {
            content: "One click: away (stored on the user: the test reads it)",
            trigger: ".o_medpulse_away_toggle.o_medpulse_away:contains(Away):not(:disabled)",
        },
    ],
});

// The transfer panel of a card in call shows which colleague is away.
registry.category("web_tour.tours").add("medpulse_callback_transfer_away_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "The card of my call is there: open the transfer panel",
            trigger: ".o_medpulse_incoming_card .o_medpulse_card_transfer_toggle",
            run: "click",
        },
        {
            content: "The away colleague is marked Away",
            trigger:
                ".o_medpulse_card_transfer_target:has(.o_medpulse_card_transfer_name:contains(Pavel Operator)) .o_medpulse_card_away",
        },
        {
            content: "A colleague on duty is not",
            trigger:
                ".o_medpulse_card_transfer_target:has(.o_medpulse_card_transfer_name:contains(Mira Mobile)):not(:has(.o_medpulse_card_away))",
        },
    ],
});

// A colleague is calling this number back: the list and the form say so, Call back refuses.
registry.category("web_tour.tours").add("medpulse_callback_being_called_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_callback_action",
    steps: () => [
        {
            content: "The list names who is calling",
            trigger:
                ".o_data_row:has(.o_data_cell:contains(Olga Operator)) td[name=being_called_by_id]:contains(Olga Operator)",
        },
        {
            content: "Open the call-back",
            trigger: ".o_data_row td[name=due_at]",
            run: "click",
        },
        {
            content: "The form says who is calling",
            trigger: ".o_form_view .o_medpulse_being_called:contains(Being called by):contains(Olga Operator)",
        },
        {
            content: "Call back",
            trigger: ".o_form_view .o_form_statusbar button.o_medpulse_call_back",
            run: "click",
        },
        {
            content: "Refused, with who is calling (nothing dialled: the test checks the PBX)",
            trigger: ".o_notification:contains(Olga Operator is calling)",
        },
    ],
});
