/** @odoo-module **/

import { registry } from "@web/core/registry";
import { user } from "@web/core/user";

const { IANAZone, Settings } = luxon;

/**
 * Times are shown in the zone of the user's preferences, not the browser's.
 *
 * Odoo's web client shows datetimes in the browser's zone. A clinic works in its own
 * zone: a receptionist whose computer is set to another zone would see the schedule
 * hours off, and book a patient at the wrong hour. The server already reads "today",
 * reports and messages in the user's zone; the client now does the same (dates are
 * read and written through luxon's default zone, the calendar view uses it too).
 */
export const clinicTimeZoneService = {
    start() {
        const zone = user.tz;
        if (zone && IANAZone.isValidZone(zone)) {
            Settings.defaultZone = IANAZone.create(zone);
        }
    },
};

registry.category("services").add("medpulse_clinic_time_zone", clinicTimeZoneService);
