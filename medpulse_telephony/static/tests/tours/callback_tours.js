import { registry } from "@web/core/registry";

// An operator marks themselves away in My Preferences: the round-robin of call-backs skips them.
registry.category("web_tour.tours").add("medpulse_callback_away_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the user menu",
            trigger: ".o_user_menu button",
            run: "click",
        },
        {
            content: "Open my preferences",
            trigger: ".dropdown-item[data-menu=settings]",
            run: "click",
        },
        {
            content: "Open the Telephony tab",
            trigger: ".modal .o_notebook .nav-link:contains(Telephony)",
            run: "click",
        },
        {
            content: "Tick Away",
            trigger: ".modal .o_field_widget[name=medpulse_pbx_away] input",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".modal button[name=preference_save]",
            run: "click",
        },
        {
            content: "The preferences are closed",
            trigger: "body:not(:has(.modal))",
        },
    ],
});
