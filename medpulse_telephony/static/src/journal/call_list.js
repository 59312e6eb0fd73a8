import { useEffect } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { debounce } from "@web/core/utils/timing";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";

/** Bus notification type of the journal (see models/medpulse_call_journal_live.py). */
export const JOURNAL_NOTIFICATION = "medpulse_telephony.journal";
/**
 * What an open journal list asks the bus for: the server grants it, to an operator, as
 * their companies' journal channels (models/ir_websocket.py). A tab that shows no journal
 * (a wallboard on a TV) is not woken by every PBX event.
 */
export const JOURNAL_CHANNEL = "medpulse_telephony.journal";
/** A call changes with every PBX event, in bursts: the list reloads once per burst. */
export const RELOAD_DELAY = 1000;

/** Journal lists mounted in this tab: the channel is asked for by the first, left by the last. */
let openLists = 0;

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
                if (openLists++ === 0) {
                    bus.addChannel(JOURNAL_CHANNEL);
                }
                bus.subscribe(JOURNAL_NOTIFICATION, reload);
                return () => {
                    bus.unsubscribe(JOURNAL_NOTIFICATION, reload);
                    reload.cancel();
                    if (--openLists === 0) {
                        bus.deleteChannel(JOURNAL_CHANNEL);
                    }
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
