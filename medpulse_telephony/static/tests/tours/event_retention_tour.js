import { registry } from "@web/core/registry";

/**
 * Settings ▸ Telephony ▸ Raw PBX events: an administrator sets how many months raw
 * events are kept and saves (the test then reads the company's value).
 */
registry.category("web_tour.tours").add("medpulse_event_retention_settings_tour", {
    steps: () => [
        {
            content: "The retention of raw events, empty by default (0: kept forever)",
            trigger: "#medpulse_event_retention_setting input",
            run() {
                const setting = document.querySelector("#medpulse_event_retention_setting");
                if (!setting.innerText.includes("Keep raw PBX events")) {
                    throw new Error(`Unexpected setting: ${setting.innerText}`);
                }
            },
        },
        {
            content: "Keep raw events 6 months",
            trigger: "#medpulse_event_retention_setting input",
            run: "edit 6",
        },
        {
            content: "Save the settings (they reload the whole page: this body is marked)",
            trigger: ".o_control_panel .o_form_button_save",
            async run(helpers) {
                document.body.classList.add("o_medpulse_before_save");
                await helpers.click();
            },
        },
        {
            content: "Saved: the page reloaded with 6 months and nothing left unsaved",
            trigger:
                "body:not(.o_medpulse_before_save):not(:has(.o_dirty_warning)) " +
                "#medpulse_event_retention_setting input:value(6)",
        },
    ],
});
