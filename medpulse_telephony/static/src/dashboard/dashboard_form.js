import { registry } from "@web/core/registry";
import { FormController } from "@web/views/form/form_controller";
import { formView } from "@web/views/form/form_view";

/**
 * A dashboard drawn with a form on a transient model: its fields (the period) are
 * editable and its figures follow them at once, but it is not a record being written:
 * no save or discard icons, and its title is the action's, not "New".
 */
export class DashboardFormController extends FormController {
    setup() {
        super.setup();
        this.canEdit = false;
    }

    displayName() {
        return this.env.config.actionName || super.displayName();
    }

    // Figures to read, nothing to keep: leaving the screen saves nothing.
    beforeVisibilityChange() {}

    async beforeLeave() {}

    async beforeUnload() {}
}

registry
    .category("views")
    .add("medpulse_dashboard_form", { ...formView, Controller: DashboardFormController });
