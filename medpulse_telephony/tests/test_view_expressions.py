"""The expressions of our views are evaluated in the browser, by a small Python subset.

``invisible``, ``readonly``, ``required``, ``column_invisible``, ``decoration-*``,
``domain``, ``context``, ``filter_domain`` and ``options`` are evaluated by the web
client's own interpreter (``@web/core/py_js``), which knows only a few functions: a
``len()`` there is a valid Python expression that crashes the form, only in a browser,
only for the users who see that field. The screen crawl opens every screen; this test
reads every expression of every view of our addons, including those no crawled role
sees, and fails on a function the web client does not have.
"""

import ast
import re

from lxml import etree

from odoo.tests import TransactionCase, tagged

#: Functions of the web client's evaluator (``py_builtin.js``: BUILTINS).
CLIENT_FUNCTIONS = {"bool", "set", "max", "min", "context_today", "relativedelta"}
EVALUATED = re.compile(
    r"^(invisible|readonly|required|column_invisible|domain|context|filter_domain|options"
    r"|decoration-\w+)$"
)


@tagged("post_install", "-at_install")
class TestClientExpressions(TransactionCase):
    def test_view_expressions_use_only_client_functions(self):
        ours = self.env["ir.model.data"].search([
            ("model", "=", "ir.ui.view"), ("module", "=like", "medpulse\\_%"),
        ])
        views = self.env["ir.ui.view"].browse(ours.mapped("res_id"))
        self.assertTrue(views)
        problems = []
        for view in views:
            for node in etree.fromstring(view.arch_db.encode()).iter(etree.Element):
                for name, expression in node.attrib.items():
                    if not EVALUATED.match(name):
                        continue
                    for function in self._called_names(expression):
                        if function not in CLIENT_FUNCTIONS:
                            problems.append(
                                f"{view.xml_id}: {node.tag} {name}={expression!r} calls "
                                f"{function}(), which the web client cannot evaluate"
                            )
        self.assertFalse(problems, "\n".join(problems))

    def test_the_check_finds_len(self):
        self.assertEqual(self._called_names("len(patient_ids) < 2"), ["len"])
        self.assertEqual(self._called_names("state != 'done' and not id"), [])

    @staticmethod
    def _called_names(expression):
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError:
            return []  # not an expression (a plain string option): nothing is called
        return [
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        ]
