// ESLint's flat config: the recommended rules of ESLint, typescript-eslint and eslint-plugin-vue;
// eslint-config-prettier last, so layout is Prettier's alone.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import pluginVue from 'eslint-plugin-vue'
import { defineConfig } from 'eslint/config'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default defineConfig(
  {
    ignores: ['dist/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', 'src/api/openapi.d.ts'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.browser, ...globals.node },
    },
  },
  {
    files: ['**/*.ts', '**/*.vue'],
    rules: {
      // TypeScript already reports undefined names, and knows the DOM and Vue's macros better.
      'no-undef': 'off',
      // A leading underscore marks a name kept on purpose: a mock's signature, a key left out by a rest pattern.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['e2e/**/*.ts'],
    rules: {
      // Playwright reads a fixture's dependencies from its first parameter: `async ({}, use) =>` is its idiom.
      'no-empty-pattern': 'off',
    },
  },
  {
    files: ['**/*.test.ts'],
    rules: {
      // Tests mount small throwaway host components next to each other.
      'vue/one-component-per-file': 'off',
    },
  },
  prettier,
)
