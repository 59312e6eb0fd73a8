import { Component } from "@odoo/owl";
import { deserializeDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

/**
 * "Next free slot" of the appointment form: asks the server for the doctor's next free
 * start and puts it in the form, like an onchange. Nothing is saved: a new booking
 * stays new until the receptionist saves it (a button of type "object" would save it).
 */
export class NextFreeSlot extends Component {
    static template = "medpulse_clinic.NextFreeSlot";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
    }

    async findSlot() {
        const { record } = this.props;
        const start = await this.orm.call(
            "medpulse.appointment",
            "get_next_free_slot",
            [record.data.doctor_id[0], record.data.service_id[0]],
            { exclude_ids: record.resId ? [record.resId] : [] }
        );
        await record.update({ start: deserializeDateTime(start) });
    }
}

registry.category("view_widgets").add("medpulse_next_free_slot", { component: NextFreeSlot });
