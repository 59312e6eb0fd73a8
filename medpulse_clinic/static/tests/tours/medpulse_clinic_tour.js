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
            content: "A booking being written has no state to change yet",
            trigger: ".o_form_view .o_form_statusbar",
            run() {
                const buttons = this.anchor.querySelectorAll(".o_statusbar_buttons button");
                if (buttons.length) {
                    throw new Error(`state buttons before saving: ${[...buttons].map((b) => b.innerText)}`);
                }
            },
        },
        {
            content: "Move the time far away",
            trigger: ".o_field_widget[name=start] input",
            run: "edit 01/07/2031 10:00:00",
        },
        {
            content: "Ask for the next free slot",
            trigger: ".o_form_view:has(.o_field_widget[name=start] input:value(/2031/)) button:contains(Next free slot)",
            run: "click",
        },
        {
            content: "The slot is back in the form, and nothing was saved",
            trigger: ".o_field_widget[name=start] input:value(/\\d/):not(:value(/2031/))",
            run() {
                if (!window.location.pathname.endsWith("/new")) {
                    throw new Error(`the booking was saved: ${window.location.pathname}`);
                }
            },
        },
        {
            content: "Book it",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Confirm the appointment",
            trigger: ".o_form_view button[name=action_confirm]",
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
        {
            content: "Register a new patient",
            trigger: "[data-menu-xmlid='medpulse_clinic.medpulse_patient_menu']",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_list_button_add",
            run: "click",
        },
        {
            content: "The title has no card number yet (not \"/\")",
            trigger: ".o_form_view .oe_title:has(.o_field_widget[name=card_number])",
            run() {
                const number = this.anchor.querySelector(".o_field_widget[name=card_number]");
                if (number.innerText.trim()) {
                    throw new Error(`a new patient's title shows "${number.innerText.trim()}"`);
                }
            },
        },
    ],
});
