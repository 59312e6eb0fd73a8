import { registry } from "@web/core/registry";

/**
 * Tours of tests/test_waitlist_browser.py: the waiting list (issue 22, part 3), as each
 * clinic role that works with it.
 */

const CARD = ".o_medpulse_incoming_card.o_medpulse_card_talking";

// The card of a waiting patient says so, and puts the caller on the list in a dialog.
registry.category("web_tour.tours").add("medpulse_waitlist_card_tour", {
    steps: () => [
        {
            content: "The caller waits for Doctor Reminder",
            trigger: `${CARD} .o_medpulse_card_waitlist:contains(On the waiting list for Doctor Reminder)`,
        },
        {
            content: "Put the caller on the waiting list (for another doctor)",
            trigger: `${CARD} .o_medpulse_card_waitlist_add`,
            run: "click",
        },
        {
            content: "The caller is the entry's patient",
            trigger: ".modal .o_field_widget[name=patient_id] input:value(Ivanova Anna)",
        },
        {
            trigger: ".modal .o_field_widget[name=doctor_id] input",
            run: "edit Doctor Colleague",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Doctor Colleague)",
            run: "click",
        },
        {
            content: "The specialty follows the doctor",
            trigger: ".modal .o_field_widget[name=specialty_id]:contains(Therapy)",
        },
        {
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Saved: the dialog closed",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

// From the schedule: an appointment's form puts its patient on the list for its doctor.
registry.category("web_tour.tours").add("medpulse_waitlist_schedule_tour", {
    steps: () => [
        {
            trigger: ".o_form_view button.o_medpulse_appointment_waitlist",
            run: "click",
        },
        {
            content: "Patient, doctor and service come from the appointment",
            trigger: ".modal .o_field_widget[name=doctor_id] input:value(Doctor Reminder)",
        },
        {
            trigger: ".modal .o_field_widget[name=patient_id] input:value(Smirnov Oleg)",
        },
        {
            content: "Urgent",
            trigger: ".modal .o_field_widget[name=priority] .o_priority_star:last-child",
            run: "click",
        },
        {
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
    ],
});

// The waiting list: who waits, for whom.
registry.category("web_tour.tours").add("medpulse_waitlist_list_tour", {
    steps: () => [
        {
            content: "Two patients wait",
            trigger: ".o_list_view .o_data_row:contains(Orlova Irina)",
        },
        {
            trigger: ".o_list_view .o_data_row:contains(Ivanova Anna) td[name=patient_id]",
            run: "click",
        },
        {
            content: "The entry: for whom, which hours",
            trigger: ".o_form_view .o_field_widget[name=doctor_id] input:value(Doctor Reminder)",
        },
        {
            trigger: ".o_form_view .o_field_widget[name=hour_from] input:value(09:00)",
        },
    ],
});

// The worklist of a freed slot: the longest waiting first; she accepts and is booked.
registry.category("web_tour.tours").add("medpulse_waitlist_offer_tour", {
    steps: () => [
        {
            content: "The freed slot's group, open",
            trigger: ".o_list_view .o_group_header:contains(Doctor Reminder)",
            run: "click",
        },
        {
            content: "The longest waiting first",
            trigger: ".o_list_view .o_data_row:first:contains(Ivanova Anna)",
        },
        {
            content: "She accepts: book",
            trigger: ".o_list_view .o_data_row:first button.o_medpulse_offer_accept",
            run: "click",
        },
        {
            content: "Booked",
            trigger: ".o_notification:contains(Booked)",
        },
    ],
});

// The refill report: freed, refilled, lost, in a pivot and a graph.
registry.category("web_tour.tours").add("medpulse_waitlist_report_tour", {
    steps: () => [
        {
            content: "The pivot's measures",
            trigger: ".o_pivot th:contains(Refilled (count))",
        },
        {
            trigger: ".o_pivot th:contains(Lost (count))",
        },
        {
            trigger: ".o_pivot th:contains(Hours to refill)",
        },
        {
            content: "The graph",
            trigger: ".o_switch_view.o_graph",
            run: "click",
        },
        {
            trigger: ".o_graph_renderer canvas",
        },
    ],
});
