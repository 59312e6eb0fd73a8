import { registry } from "@web/core/registry";

/** Tours of tests/test_insight_browser.py: what the caller chose and what the call was about. */

/** The call form's page of the call's insight, as every telephony user sees it. */
function insightPage() {
    return [
        {
            content: "The call form is open",
            trigger: ".o_form_view .o_field_widget[name=entry_id], .o_form_view .o_notebook",
        },
        {
            content: "Open the page of what the call was about",
            trigger: ".o_notebook .nav-link:contains(What the call was about)",
            run: "click",
        },
        {
            content: "The keys typed in the voice menu",
            trigger: ".o_field_widget[name=dtmf_choices]:contains(ivr:2 ivr.2:1)",
        },
        {
            content: "The place of the voice menu by its label",
            trigger: ".o_field_widget[name=ivr_label_ids] .o_tag:contains(Cancel or move an appointment)",
        },
        {
            content: "The topics speech analytics found",
            trigger: ".o_field_widget[name=topic_ids] .o_tag:contains(Booking)",
        },
        {
            content: "The call-tracking source",
            trigger: ".o_field_widget[name=dct_source]:contains(yandex)",
        },
        {
            content: "The campaign",
            trigger: ".o_field_widget[name=dct_campaign]:contains(checkup-spring)",
        },
    ];
}

registry.category("web_tour.tours").add("medpulse_insight_call_clinic_tour", {
    steps: () => [
        ...insightPage(),
        {
            content: "A clinic role sees the patient",
            trigger: ".o_field_widget[name=patient_id]:contains(Ivanova)",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_insight_call_bare_tour", {
    steps: () => [
        ...insightPage(),
        {
            content: "Without a clinic role: no patient field, no name anywhere on the form",
            trigger: ".o_form_view:not(:has(.o_field_widget[name=patient_id])):not(:contains(Ivanova))",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_insight_journal_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_call_action",
    steps: () => [
        {
            content: "The journal lists the calls",
            trigger: ".o_list_view .o_data_row",
        },
        {
            content: "Open the filters",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Calls whose caller typed in the voice menu",
            trigger: ".o_filter_menu .o-dropdown-item:contains(Typed in the voice menu)",
            run: "click",
        },
        {
            content: "The filter is on",
            trigger: ".o_searchview_facet:contains(Typed in the voice menu)",
        },
        {
            content: "The call with keys is listed with its topics",
            trigger: ".o_list_view .o_data_row .o_field_many2many_tags:contains(Booking)",
        },
        {
            content: "Every call listed typed in the menu: the one without keys is gone",
            trigger: ".o_list_view:not(:has(.o_data_row:contains(79035550000)))",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_insight_manager_tour", {
    url: "/odoo/action-medpulse_telephony.medpulse_ivr_label_action",
    steps: () => [
        {
            content: "The places of the voice menu callers reached",
            trigger: ".o_list_view .o_data_row td[name=location]:contains(ivr.2.1)",
        },
        {
            content: "Label the item 1 of ivr.2",
            trigger: ".o_data_row:has(td[name=location]:contains(ivr.2.1)) td[name=name]",
            run: "click",
        },
        {
            trigger: ".o_data_row.o_selected_row td[name=name] input",
            run: "edit A doctor's appointment",
        },
        {
            content: "Save",
            trigger: ".o_list_button_save",
            run: "click",
        },
        {
            trigger: ".o_data_row td[name=name]:contains(A doctor's appointment)",
        },
        {
            content: "Open the calls by source",
            trigger: "button[data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_reporting']",
            run: "click",
        },
        {
            trigger: ".dropdown-item[data-menu-xmlid='medpulse_telephony.medpulse_call_source_report_menu']",
            run: "click",
        },
        {
            content: "The funnel by source: one call from yandex, reached",
            trigger: ".o_pivot .o_pivot_header_cell_closed:contains(yandex), .o_pivot th:contains(yandex)",
        },
        {
            content: "Open the call topics",
            trigger: "button[data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_reporting']",
            run: "click",
        },
        {
            trigger: ".dropdown-item[data-menu-xmlid='medpulse_telephony.medpulse_call_menu_topics']",
            run: "click",
        },
        {
            content: "The calls by topic",
            trigger: ".o_pivot th:contains(Booking)",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_insight_transcript_tour", {
    steps: () => [
        {
            content: "The recording's topics",
            trigger: ".o_form_view .o_field_widget[name=topic_ids] .o_tag:contains(Prices)",
        },
        {
            content: "A clinic role reads the transcript",
            trigger: ".o_field_widget[name=transcript]:contains(I want to book a check-up)",
        },
    ],
});

registry.category("web_tour.tours").add("medpulse_insight_no_transcript_tour", {
    steps: () => [
        {
            content: "The recording's topics",
            trigger: ".o_form_view .o_field_widget[name=topic_ids] .o_tag:contains(Prices)",
        },
        {
            content: "Without a clinic role: no transcript, not even its title",
            trigger: ".o_form_view:not(:has(.o_field_widget[name=transcript])):not(:contains(I want to book))",
        },
    ],
});
