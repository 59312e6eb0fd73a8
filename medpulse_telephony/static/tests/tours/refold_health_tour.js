import { registry } from "@web/core/registry";
import { openHealthScreenSteps } from "@medpulse_telephony/../tests/tours/health_screen_tour";

/**
 * After a refold of the journal, the integration health screen (Telephony ▸ Configuration ▸
 * Integration health) shows its progress and what it changed, and leads to the refold's
 * own record with its changes per field.
 */
registry.category("web_tour.tours").add("medpulse_refold_health_tour", {
    steps: () => [
        ...openHealthScreenSteps(),
        {
            content: "The refold's progress and its changes per field",
            trigger: ".o_form_view .o_medpulse_refold_changes",
            run() {
                const text = (name) =>
                    document.querySelector(`.o_form_view .o_field_widget[name=${name}]`)?.innerText.trim();
                const figures = {
                    state: text("refold_state"),
                    done: text("refold_done_count"),
                    left: text("refold_remaining_count"),
                    changed: text("refold_changed_count"),
                };
                const table = document.querySelector(".o_form_view .o_medpulse_refold_changes").innerText;
                if (
                    figures.state !== "Done" ||
                    figures.done !== "6" ||
                    figures.left !== "0" ||
                    figures.changed !== "6" ||
                    !table.includes("Waiting (s)") ||
                    !table.includes("PBX reason")
                ) {
                    throw new Error(`Wrong refold on the health screen: ${JSON.stringify(figures)} ${table}`);
                }
            },
        },
        {
            content: "Open the refolds",
            trigger: ".o_form_view button.o_medpulse_health_refolds",
            run: "click",
        },
        {
            content: "Open the refold",
            trigger: ".o_list_view .o_data_row:only-child .o_data_cell",
            run: "click",
        },
        {
            content: "Its record: done, what changed per field",
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Done)",
        },
        {
            content: "The changes per field",
            trigger: ".o_form_view .o_medpulse_refold_changes:contains(Waiting)",
        },
    ],
});
