import { registry } from "@web/core/registry";

// tests/test_confirmation_list.py (TestConfirmationTours): a receptionist works the list.
registry.category("web_tour.tours").add("medpulse_confirmation_list_tour", {
    steps: () => [
        {
            content: "Next patient, from the list",
            trigger: "button[name=action_next_patient]",
            run: "click",
        },
        {
            content: "The first appointment's patient, with the doctor's next free times",
            trigger:
                ".o_form_view:has(.oe_title:contains(Ivanova Anna)) .o_field_widget[name=next_free_slots] span:not(:empty)",
        },
        {
            content: "Confirmed, in one click",
            trigger: ".o_form_view button[name=action_confirmed]",
            run: "click",
        },
        {
            content: "The next patient comes at once",
            trigger: ".o_form_view .oe_title:contains(Smirnov Oleg)",
        },
        {
            content: "No answer",
            trigger: ".o_form_view button[name=action_no_answer]",
            run: "click",
        },
        {
            content: "Nobody is left now: the patient who did not answer comes back later",
            trigger: ".o_notification:contains(Nobody is left to call now)",
        },
    ],
});

// A manager's view of the day's list (tomorrow's, by default).
registry.category("web_tour.tours").add("medpulse_confirmation_progress_tour", {
    steps: () => [
        {
            content: "Three on the list, two done",
            trigger: ".o_field_widget[name=total_count]:contains(3)",
        },
        {
            trigger: ".o_field_widget[name=done_count]:contains(2)",
        },
        {
            content: "Half of those done confirmed; one unreachable",
            trigger: ".o_field_widget[name=confirmed_rate]:contains(50)",
        },
        {
            trigger: ".o_field_widget[name=unreachable_count]:contains(1)",
        },
        {
            content: "Open who is left",
            trigger: "button[name=action_open_left]",
            run: "click",
        },
        {
            content: "The one left, on the call list",
            trigger: ".o_list_view .o_data_row:contains(+79167654322)",
        },
    ],
});

// An operator without a clinic role reads the reminders' log: numbers, never a name.
registry.category("web_tour.tours").add("medpulse_reminders_numbers_only_tour", {
    steps: () => [
        {
            content: "The reminder to the patient's number",
            trigger: ".o_list_view .o_data_row:contains(+79161234567)",
        },
        {
            content: "No patient column, no name",
            trigger:
                ".o_list_view:not(:has(th[data-name=patient_id])):not(:contains(Ivanova))",
        },
        {
            content: "Its form: the number and the state, no patient",
            trigger: ".o_list_view .o_data_row:first td[name=number]",
            run: "click",
        },
        {
            trigger:
                ".o_form_view:has(.o_field_widget[name=number]):not(:has(.o_field_widget[name=patient_id])):not(:contains(Ivanova))",
        },
    ],
});
