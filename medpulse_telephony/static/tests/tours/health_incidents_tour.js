import { registry } from "@web/core/registry";
import { openHealthScreenSteps } from "@medpulse_telephony/../tests/tours/health_screen_tour";

/**
 * An open integration incident (an event in error during working hours): the health
 * screen shows it with the last incidents and leads to the incidents' list, whose record
 * shows what was red and the administrators' activity; the list is also a menu
 * (Telephony ▸ Configuration ▸ Integration incidents).
 */
registry.category("web_tour.tours").add("medpulse_health_incidents_tour", {
    steps: () => [
        ...openHealthScreenSteps(),
        {
            content: "The open incident is on the health screen",
            trigger: ".o_form_view .o_field_widget[name=incident_id]:contains(Incident of)",
        },
        {
            content: "The last incidents: the open one, what was red",
            trigger: ".o_form_view .o_medpulse_health_last_incidents .o_data_row:contains(Events in error):contains(Open)",
        },
        {
            content: "Open the incidents",
            trigger: ".o_form_view button.o_medpulse_health_incidents",
            run: "click",
        },
        {
            content: "The incidents' list replaced the health screen",
            trigger: ".o_breadcrumb .active:contains(Integration incidents)",
        },
        {
            content: "Open the incident",
            trigger: ".o_list_view .o_data_row:contains(Events in error) .o_data_cell",
            run: "click",
        },
        {
            content: "Its record: open, red now, what was red and the check's words",
            trigger: ".o_form_view .o_statusbar_status .o_arrow_button_current:contains(Open)",
        },
        {
            content: "Red now",
            trigger: ".o_form_view .o_medpulse_incident_red:not(.d-none)",
        },
        {
            content: "The details say what was red",
            trigger: ".o_form_view .o_field_widget[name=details]:contains(could not be put in the journal)",
        },
        {
            content: "The administrator's activity is in the chatter",
            trigger: ".o-mail-Activity:contains(Telephony of)",
        },
        {
            content: "Open Configuration",
            trigger: ".o_main_navbar [data-menu-xmlid='medpulse_telephony.medpulse_telephony_menu_configuration']",
            run: "click",
        },
        {
            content: "Open Integration incidents",
            trigger: ".dropdown-item[data-menu-xmlid='medpulse_telephony.medpulse_telephony_incident_menu']",
            run: "click",
        },
        {
            content: "The list of incidents",
            trigger: ".o_list_view .o_data_row:contains(Events in error)",
        },
    ],
});
