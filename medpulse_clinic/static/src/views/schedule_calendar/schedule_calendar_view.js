/** @odoo-module **/

import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { calendarView } from "@web/views/calendar/calendar_view";
import { CalendarController } from "@web/views/calendar/calendar_controller";

/**
 * The clinic's schedule: the standard calendar with a "New" button, because a
 * receptionist on the phone books from the form (patient, doctor, service, next
 * free slot) more often than by picking a time in the grid.
 */
export class ScheduleCalendarController extends CalendarController {
    static template = "medpulse_clinic.ScheduleCalendarController";

    setup() {
        super.setup();
        this.actionService = useService("action");
    }

    onClickNewAppointment() {
        this.actionService.doAction(
            {
                type: "ir.actions.act_window",
                res_model: this.props.resModel,
                views: [[false, "form"]],
            },
            { additionalContext: this.props.context }
        );
    }
}

export const scheduleCalendarView = {
    ...calendarView,
    Controller: ScheduleCalendarController,
};

registry.category("views").add("medpulse_schedule_calendar", scheduleCalendarView);
