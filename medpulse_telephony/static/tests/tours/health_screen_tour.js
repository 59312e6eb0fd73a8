import { registry } from "@web/core/registry";

/**
 * The steps that open the integration health screen as a person does (Telephony ▸
 * Configuration ▸ Integration health). Other tours import them
 * (`@medpulse_telephony/../tests/tours/health_screen_tour`).
 */
export function openHealthScreenSteps() {
    return [
        {
            content: "Open the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Open the Telephony app",
            trigger: ".o_app[data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_root']",
            run: "click",
        },
        {
            content: "Open Configuration",
            trigger: ".o_main_navbar [data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_configuration']",
            run: "click",
        },
        {
            content: "Open Integration health",
            trigger: ".dropdown-item[data-menu-xmlid='medpulse_telephony.medpulse_telephony_health_menu']",
            run: "click",
        },
    ];
}

/**
 * The integration health screen shows the company's real figures: the banner (red: an
 * event in error), the last event, the events of the last day, the events waiting and
 * in error.
 */
registry.category("web_tour.tours").add("medpulse_health_screen_tour", {
    steps: () => [
        ...openHealthScreenSteps(),
        {
            content: "The banner says an event is in error, and the figures are the company's",
            trigger: ".o_form_view .o_medpulse_health_red:not(.d-none):contains(could not be put in the journal)",
            run() {
                const text = (name) =>
                    document.querySelector(`.o_form_view .o_inner_group .o_field_widget[name=${name}]`)?.innerText.trim();
                const figures = {
                    last_event_at: text("last_event_at"),
                    events_24h: text("events_24h"),
                    waiting_event_count: text("waiting_event_count"),
                    error_event_count: text("error_event_count"),
                };
                if (
                    !figures.last_event_at ||
                    !(Number(figures.events_24h) >= 10) ||
                    figures.waiting_event_count !== "1" ||
                    figures.error_event_count !== "1"
                ) {
                    throw new Error(`Wrong figures on the health screen: ${JSON.stringify(figures)}`);
                }
            },
        },
        {
            content: "No save or discard button: nothing to edit",
            trigger: ".o_form_view:not(:has(.o_form_button_save))",
        },
        {
            content: "The integration's health is a screen, not a new record",
            trigger: ".o_breadcrumb",
            run() {
                const title = this.anchor.innerText;
                if (!title.includes("Integration health") || title.includes("New")) {
                    throw new Error(`the health screen's title: "${title}"`);
                }
            },
        },
    ],
});
