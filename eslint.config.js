// ESLint flat config: lints the explorer's script, which the page inlines as a classic
// (non-module) <script> so that it runs from file:// (see src/medembed/explore/_page.py).
// Install with `make lint-js-setup` (npm ci into ./node_modules); run with `make lint`.
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  {
    files: ["src/medembed/explore/static/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: 2020,
      sourceType: "script",
      globals: { ...globals.browser },
    },
    rules: {
      ...js.configs.recommended.rules,
      // A classic script shares the page's global scope: keep everything inside the
      // IIFE (only window.explorer is exported, deliberately, for the browser test).
      "no-implicit-globals": "error",
      strict: ["error", "function"],
      // `x == null` tests null and undefined at once, on purpose; elsewhere compare strictly.
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  {
    files: ["eslint.config.js"],
    ...js.configs.recommended,
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
