from odoo import api, fields, models
from odoo.models import fix_import_export_id_paths
from odoo.osv import expression

#: Records checked at a time along an exported path (Odoo's export reads 1000 at a time).
EXPORT_BATCH = 1000


class Base(models.AbstractModel):
    """Three paths where Odoo checks less than ``read`` does, closed for our models.

    Patient data is spread over fields that only some roles may read (``groups``) and
    over related and computed fields that read as superuser. ``read``, ``web_read``,
    ``read_group`` and ordering check both; these do not, and are checked here:
    ``onchange`` and searching on a field with ``groups`` that has no column (one2many,
    many2many) for the ``medpulse.*`` models, ``export_data`` for every model, along each
    exported path.
    """

    _inherit = "base"

    def onchange(self, values, field_names, fields_spec):
        """Our models' onchanges for those who may edit them, on records they may read.

        ``onchange`` checks no access right by itself, and related and stored computed
        fields are computed as superuser: given the id of a patient (or of appointments)
        in ``values``, it would answer that patient's card number, phone or next
        appointment to anyone with a login, another company's user included.
        """
        if self._name.startswith("medpulse.") and not self.env.su:
            self.check_access("write" if self else "create")
            self._medpulse_check_linked(values)
        return super().onchange(values, field_names, fields_spec)

    def export_data(self, fields_to_export):
        """What is exported is checked like what is read, along every exported path.

        Odoo exports any ids it is given and checks a field's ``groups`` only when it
        fetches the field from the database: not a value already in the cache (checking
        a record rule reads the record as superuser, which fills it: the text of an SMS
        went to a telephony manager), nor a related or computed field, computed as
        superuser. Here each step of each path (``text``, ``patient_id/name``,
        ``pbx_command_id/patient_id/name``) is checked as a read would be, before
        anything is exported: the field's groups, and the right to read the records of
        our models it links to. Our models' exported records are checked like a read too.
        """
        # Who may not export at all gets Odoo's own refusal, with its message.
        may_export = self.env.is_admin() or self.env.user.has_group("base.group_allow_export")
        if not self.env.su and may_export:
            if self._name.startswith("medpulse."):
                self.check_access("read")
            tree = {}
            for path in fields_to_export:
                node = tree
                for part in fix_import_export_id_paths(path):
                    node = node.setdefault(part, {})
            self._medpulse_check_export(tree)
        return super().export_data(fields_to_export)

    def _medpulse_check_export(self, tree):
        """Raise unless the user may read every step of the exported paths ``tree``
        (``{field: {subfield: ...}}``) from the records ``self``."""
        for part, subtree in tree.items():
            field = self._fields.get(part.split(".")[0])  # "field.property" of properties
            if field is None:
                continue  # "id", ".id", or a name Odoo's export refuses itself
            self.check_field_access_rights("read", [field.name])
            if not field.relational:
                continue
            Comodel = self.env[field.comodel_name]
            if not _reaches_ours(Comodel, subtree):
                # No record of ours down there: the fields' groups are all to check.
                Comodel._medpulse_check_export(subtree)
                continue
            linked = Comodel.browse(self._medpulse_linked_ids(field.name))
            if Comodel._name.startswith("medpulse."):
                for start in range(0, len(linked), EXPORT_BATCH):
                    linked[start:start + EXPORT_BATCH].check_access("read")
            linked._medpulse_check_export(subtree)

    def _medpulse_linked_ids(self, name):
        """Ids of the records ``self`` link to through field ``name``, read as superuser in
        batches as Odoo's export reads them (a whole journal is not held in memory)."""
        ids = {}
        for start in range(0, len(self), EXPORT_BATCH):
            batch = self[start:start + EXPORT_BATCH].sudo()
            ids.update(dict.fromkeys(batch.mapped(name).ids))
            batch.invalidate_recordset()
        return list(ids)

    @api.model
    def _search(self, domain, offset=0, limit=None, order=None):
        # A field without a column (x2many) is searched through a subquery that does not
        # check its groups: "calls of patient 42" would answer anyone who reads calls.
        if self._name.startswith("medpulse.") and not self.env.su and domain:
            names = {
                leaf[0].split(".")[0]
                for leaf in expression.normalize_domain(domain)
                if expression.is_leaf(leaf) and isinstance(leaf[0], str)
            }
            self.check_field_access_rights("read", [name for name in names if name in self._fields])
        return super()._search(domain, offset=offset, limit=limit, order=order)

    @api.model
    def _medpulse_check_linked(self, values):
        """Raise unless the user reads every record ``values`` (an onchange's) refers to."""
        for name, value in (values or {}).items():
            field = self._fields.get(name)
            if not field or not field.relational or not value:
                continue
            Comodel = self.env[field.comodel_name]
            ids, nested = _linked_ids(field, value)
            Comodel.browse(ids).exists().check_access("read")
            for line_values in nested:
                Comodel._medpulse_check_linked(line_values)


def _linked_ids(field, value):
    """(ids, [values of new or updated lines]) in an onchange's value of ``field``."""
    if field.type == "many2one":
        record_id = value.get("id") if isinstance(value, dict) else value
        return ([record_id] if isinstance(record_id, int) else []), []
    ids, nested = [], []
    for command in value if isinstance(value, (list, tuple)) else ():
        if not isinstance(command, (list, tuple)) or not command:
            continue
        if command[0] == fields.Command.SET and len(command) > 2:
            ids += [i for i in command[2] if isinstance(i, int)]
        elif command[0] in (fields.Command.UPDATE, fields.Command.LINK) and isinstance(
            command[1], int
        ):
            ids.append(command[1])
        if (
            command[0] in (fields.Command.CREATE, fields.Command.UPDATE)
            and len(command) > 2
            and isinstance(command[2], dict)
        ):
            nested.append(command[2])
    return ids, nested


def _reaches_ours(Model, tree):
    """Whether the exported paths ``tree`` from ``Model`` reach a record of our models."""
    if Model._name.startswith("medpulse."):
        return True
    for part, subtree in tree.items():
        field = Model._fields.get(part.split(".")[0])
        if field is not None and field.relational and _reaches_ours(
            Model.env[field.comodel_name], subtree
        ):
            return True
    return False
