import { registry } from "@web/core/registry";

/**
 * The steps of a tour of My Preferences: open them from the user menu, check that there is
 * one Telephony tab and open it, run `checks` there, close the preferences (`save`: save
 * them instead). Other addons' tours import it
 * (`@medpulse_telephony/../tests/tours/preferences_tour`).
 */
export function telephonyPreferencesSteps(checks, { save = false } = {}) {
    return [
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
            content: "One Telephony tab",
            trigger: ".modal .o_notebook .nav-link:contains(Telephony)",
            run() {
                const tabs = [...this.anchor.closest(".o_notebook").querySelectorAll(".nav-link")].filter(
                    (tab) => tab.innerText.trim() === "Telephony"
                );
                if (tabs.length !== 1) {
                    throw new Error(`${tabs.length} Telephony tabs in My Preferences`);
                }
                this.anchor.click();
            },
        },
        ...checks,
        ...(save
            ? [
                  {
                      content: "Save the preferences",
                      trigger: ".modal button[name=preference_save]",
                      run: "click",
                  },
                  {
                      content: "The preferences are closed",
                      trigger: "body:not(:has(.modal))",
                  },
              ]
            : [
                  {
                      content: "Close the preferences",
                      trigger: ".modal .o_form_button_cancel, .modal .btn-close",
                      run: "click",
                  },
              ]),
    ];
}

// My Preferences has one Telephony tab: the extension and the devices.
registry.category("web_tour.tours").add("medpulse_preferences_tour", {
    url: "/odoo",
    steps: () =>
        telephonyPreferencesSteps([
            {
                content: "It shows my extension",
                trigger: ".modal .o_field_widget[name=medpulse_pbx_extension]:contains(101)",
            },
        ]),
});
