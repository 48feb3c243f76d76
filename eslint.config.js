// ESLint (flat config) with typescript-eslint's type-aware rules. Formatting is Prettier's
// (.prettierrc.json): no stylistic rules here. `npm run lint` runs both.
import eslint from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "coverage/", "data/", "tmp-smoke/", "profiles/"],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Types from tsconfig.json, which includes every TypeScript file; JavaScript files are linted
        // without types (below).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
      globals: globals.node,
    },
    rules: {
      // Promises: a dropped rejection is an unhandled rejection (the process exits); a promise
      // handed where a void callback is expected is a dropped one. Fire-and-forget is spelled `void`.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/require-await": "off",
      // Every union arm handled; a `default` over a union counts only where it is deliberate.
      "@typescript-eslint/switch-exhaustiveness-check": [
        "error",
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      // tsc's noUnusedLocals/noUnusedParameters already report these; `_`-prefixed names are deliberate.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests: vitest's asymmetric matchers (`expect.any(...)`, `expect.stringMatching(...)`) are typed
    // `any`, and test helpers are destructured from fixture objects. The promise rules stay on.
    files: ["tests/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/unbound-method": "off",
    },
  },
  {
    // Plain JavaScript outside tsconfig.json: the browser pages' scripts, the worker's tsx bootstrap
    // and the CommonJS tool configs.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // .dependency-cruiser.cjs: dependency-cruiser loads its configuration with require().
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
  },
  {
    files: ["src/embedded-eventstore/web/**/*.js", "src/http/docs/**/*.js"],
    languageOptions: { sourceType: "script", globals: globals.browser },
  },
);
