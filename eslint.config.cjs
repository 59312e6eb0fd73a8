// ESLint for the addons' web client code (static/src), run by scripts/lint.py and
// pre-commit. Odoo 18 modules are ES modules; Odoo's globals are read-only.
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
    {
        files: ["*/static/src/**/*.js"],
        ...js.configs.recommended,
        languageOptions: {
            ecmaVersion: 2024,
            sourceType: "module",
            globals: {
                ...globals.browser,
                odoo: "readonly",
                owl: "readonly",
                luxon: "readonly",
            },
        },
        rules: {
            ...js.configs.recommended.rules,
            "eqeqeq": "error",
            "no-console": "error",
            "no-var": "error",
            "prefer-const": "error",
            "no-unused-vars": ["error", { "args": "none" }],
        },
    },
];
