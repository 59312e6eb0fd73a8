/** @odoo-module **/

import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// A receptionist books an existing patient from the schedule, confirms the
// appointment and finds it in the calendar.
registry.category("web_tour.tours").add("medpulse_clinic_book_appointment_tour", {
    url: "/odoo",
    steps: () => [
        stepUtils.showAppsMenuItem(),
        {
            trigger: '.o_app[data-menu-xmlid="medpulse_clinic.medpulse_clinic_menu_root"]',
            content: "Open the clinic",
            run: "click",
        },
        {
            trigger: ".o_calendar_view .o-calendar-button-new",
            content: "Book a new appointment from the schedule",
            run: "click",
        },
        {
            trigger: ".o_form_view .o_field_widget[name=patient_id] input",
            content: "Find the patient by phone number",
            run: "edit 8 903 555-12-34",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tourova Anna)",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=doctor_id] input",
            content: "Choose the doctor",
            run: "edit Tour Doctor",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Doctor)",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=service_id] input",
            content: "Choose the service",
            run: "edit Tour Consultation",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Consultation)",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=start] input:value(/\\d/)",
            content: "The next free slot is proposed",
        },
        {
            trigger: ".o_form_view button[name=action_confirm]",
            content: "Confirm the appointment",
            run: "click",
        },
        {
            trigger: ".o_statusbar_status button.o_arrow_button_current[data-value=confirmed]",
            content: "The appointment is confirmed",
        },
        {
            trigger: ".o_back_button",
            content: "Back to the schedule",
            run: "click",
        },
        {
            trigger: ".o_calendar_view .fc-event:contains(Tourova Anna)",
            content: "The appointment is in the calendar",
        },
    ],
});
