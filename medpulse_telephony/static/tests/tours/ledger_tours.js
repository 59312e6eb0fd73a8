import { registry } from "@web/core/registry";

/**
 * Tour of tests/test_call_ledger.py: a manager in Telephony (the journal) opens Reporting ▸
 * Lost-patient ledger from the menu, reads the callers of a day (one never reached, one reached in
 * time), the day not reconciled yet, and switches to the pivot.
 */
registry.category("web_tour.tours").add("medpulse_call_ledger_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_action",
    steps: () => [
        {
            content: "Open Reporting",
            trigger: "button[data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_reporting']",
            run: "click",
        },
        {
            content: "Open the lost-patient ledger",
            trigger: ".dropdown-item[data-menu-xmlid='medpulse_telephony.medpulse_call_ledger_menu']",
            run: "click",
        },
        {
            content: "A caller never reached",
            trigger: ".o_list_view .o_data_row:contains(+79167770022):contains(Never reached)",
        },
        {
            content: "A caller reached in time",
            trigger: ".o_list_view .o_data_row:contains(+79161234567):contains(Reached in time)",
        },
        {
            content: "The day not reconciled yet says so",
            trigger: ".o_list_view .o_data_row:contains(not reconciled yet)",
        },
        {
            content: "Switch to the pivot",
            trigger: ".o_switch_view.o_pivot",
            run: "click",
        },
        {
            content: "The pivot counts the callers",
            trigger: ".o_pivot .o_pivot_measure_row:contains(Callers)",
        },
    ],
});
