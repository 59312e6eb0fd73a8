import { registry } from "@web/core/registry";

// With the demo addon, the Telephony tab of My Preferences offers "Ring me".
registry.category("web_tour.tours").add("medpulse_telephony_demo_ring_me_tour", {
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
        {
            content: "It offers Ring me",
            trigger: ".modal button[name=action_medpulse_ring_me]",
        },
        {
            content: "Close the preferences",
            trigger: ".modal .o_form_button_cancel, .modal .btn-close",
            run: "click",
        },
    ],
});
