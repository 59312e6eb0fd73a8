import { registry } from "@web/core/registry";

/** Tours of tests/test_journal_screens.py. */

/** Steps that open a menu of Telephony ▸ Reporting, as a person does. */
function openReport(menu) {
    return [
        {
            content: "Open Reporting",
            trigger: "button[data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_reporting']",
            run: "click",
        },
        {
            content: `Open ${menu}`,
            trigger: `.dropdown-item[data-menu-xmlid='medpulse_telephony.${menu}']`,
            run: "click",
        },
    ];
}

/** Every measure column of the pivot is the count. */
function assertOnlyCounts(pivot) {
    const measures = new Set(
        [...pivot.querySelectorAll(".o_pivot_measure_row")].map((th) => th.innerText.trim())
    );
    if (measures.size !== 1 || !measures.has("Count")) {
        throw new Error(`the pivot opens with ${[...measures].join(", ")}`);
    }
}

registry.category("web_tour.tours").add("medpulse_journal_search_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_action",
    steps: () => [
        {
            content: "Two calls in the journal",
            trigger: ".o_list_view .o_data_row:eq(1)",
        },
        {
            content: "Type a patient's name in the search box",
            trigger: ".o_searchview_input",
            run: "edit Ivanova",
        },
        {
            content: "The first proposal is the patient or the number",
            trigger: ".o_searchview_autocomplete li:first-child:contains(Number or patient)",
        },
        {
            content: "Enter",
            trigger: ".o_searchview_input",
            run: "press Enter",
        },
        {
            content: "The patient's call is found, the other one is not",
            trigger: ".o_list_view .o_data_row:only:contains(Ivanova Anna)",
        },
        {
            content: "Digits search the numbers",
            trigger: ".o_searchview_facet .o_facet_remove",
            run: "click",
        },
        {
            trigger: ".o_searchview_input",
            run: "edit 903 555",
        },
        {
            trigger: ".o_searchview_input",
            run: "press Enter",
        },
        {
            trigger: ".o_list_view .o_data_row:only:contains(903)",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_reports_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_dashboard_action",
    steps: () => [
        {
            content: "The dashboard is a screen, not a new record: its title, no save or discard",
            trigger: ".o_breadcrumb:contains(Missed calls and callbacks)",
            run() {
                if (this.anchor.innerText.includes("New")) {
                    throw new Error(`the dashboard's title: "${this.anchor.innerText}"`);
                }
                const buttons = document.querySelector(".o_form_status_indicator_buttons");
                if (buttons && !buttons.classList.contains("invisible")) {
                    throw new Error("the dashboard shows save and discard icons");
                }
            },
        },
        {
            content: "Yesterday: one missed call",
            trigger: ".o_field_widget[name=missed_count]:contains(1)",
        },
        {
            content: "Choose today",
            trigger: ".o_field_widget[name=period] input[data-value=today]",
            run: "click",
        },
        {
            content: "The figures follow, and still nothing to save",
            trigger: ".o_field_widget[name=missed_count]:contains(0)",
            run() {
                const buttons = document.querySelector(".o_form_status_indicator_buttons");
                if (buttons && !buttons.classList.contains("invisible")) {
                    throw new Error("the dashboard shows save and discard icons");
                }
            },
        },
        ...openReport("medpulse_call_report_menu"),
        {
            content: "Counted by operator and type",
            trigger: ".o_pivot .o_pivot_measure_row:contains(Count)",
            run() {
                const pivot = this.anchor.closest(".o_pivot");
                const headers = pivot.innerText;
                for (const expected of ["Olga Operator", "Missed incoming"]) {
                    if (!headers.includes(expected)) {
                        throw new Error(`the report has no "${expected}": ${headers}`);
                    }
                }
                assertOnlyCounts(pivot);
            },
        },
        ...openReport("medpulse_call_menu_analysis"),
        {
            content: "Counted by operator and type",
            trigger: ".o_pivot:not(:has(.o_view_sample_data)) .o_pivot_measure_row:contains(Count)",
            run() {
                const pivot = this.anchor.closest(".o_pivot");
                if (!pivot.innerText.includes("Olga Operator")) {
                    throw new Error(`the analysis has no operator rows: ${pivot.innerText}`);
                }
                assertOnlyCounts(pivot);
            },
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_pbx_stats_screen_tour", {
    steps: () => [
        {
            content: "PBX call statistics is a screen, not a new record",
            trigger: ".o_form_view .o_field_widget[name=date_from]",
            run() {
                const title = document.querySelector(".o_breadcrumb").innerText;
                if (!title.includes("PBX call statistics") || title.includes("New")) {
                    throw new Error(`the statistics screen's title: "${title}"`);
                }
            },
        },
        {
            content: "No save or discard button: nothing to keep",
            trigger: ".o_form_view:not(:has(.o_form_button_save))",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_journal_grouped_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_action",
    steps: () => [
        {
            content: "The journal, no filter",
            trigger: ".o_list_view .o_data_row",
        },
        {
            content: "Open the search options",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Group by operator",
            trigger: ".o_group_by_menu .o_menu_item:contains(Operator)",
            run: "click",
        },
        {
            content: "Olga's group: her calls counted, their talk summed",
            trigger: ".o_list_view .o_group_header:contains(Olga Operator)",
            run() {
                const text = this.anchor.innerText;
                if (!/\(\d+\)/.test(text)) {
                    throw new Error(`no count in the group's header: "${text}"`);
                }
                const sums = [...this.anchor.querySelectorAll(".o_list_number")].map((cell) =>
                    cell.innerText.trim()
                );
                if (!sums.some((sum) => sum && sum !== "0")) {
                    throw new Error(`no total in the group's header: ${sums.join(", ")}`);
                }
            },
        },
        {
            content: "Open her group: her calls",
            trigger: ".o_list_view .o_group_header:contains(Olga Operator)",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row",
        },
    ],
});
