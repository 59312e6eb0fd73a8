import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { debounce } from "@web/core/utils/timing";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

/** Bus notification type of the journal (see models/medpulse_call_journal_live.py). */
export const JOURNAL_NOTIFICATION = "medpulse_telephony.journal";
/** A call changes with every PBX event, in bursts: the list reloads once per burst. */
export const RELOAD_DELAY = 1000;

/**
 * The call journal's lists: they reload by themselves when the company's calls change,
 * unless the user is busy with them (a selection, a row being edited).
 */
export class CallListController extends ListController {
    setup() {
        super.setup();
        const bus = useService("bus_service");
        const reload = debounce(() => this.reloadUnlessBusy(), RELOAD_DELAY);
        useEffect(
            () => {
                bus.subscribe(JOURNAL_NOTIFICATION, reload);
                return () => {
                    bus.unsubscribe(JOURNAL_NOTIFICATION, reload);
                    reload.cancel();
                };
            },
            () => []
        );
    }

    async reloadUnlessBusy() {
        if (this.hasSelectedRecords || this.model.root.editedRecord) {
            return;
        }
        await this.model.load();
    }
}

registry
    .category("views")
    .add("medpulse_call_list", { ...listView, Controller: CallListController });
