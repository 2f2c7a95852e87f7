import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain-JS test fixtures run as Node scripts.
    files: ['**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', setImmediate: 'readonly', setTimeout: 'readonly', console: 'readonly' },
    },
  },
  {
    // Issue 10: a function that does not fit on a screen or two gets split into named steps.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
);
