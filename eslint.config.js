// Lint rules that catch the failures that hurt a runtime most: floating promises
// (an unawaited rejection kills the daemon or vanishes) and misused promises; and the layer rule
// (scripts/eslint-layers.mjs): layers import only downward, through each folder's index.ts.
import tseslint from 'typescript-eslint';
import { layersRule } from './scripts/eslint-layers.mjs';

export default tseslint.config(
  { ignores: ['vitest.config.ts', 'scripts/**', 'eslint.config.js', 'dist/**', 'node_modules/**', 'proto/gen/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { berth: { rules: { layers: layersRule } } },
    rules: { 'berth/layers': 'error' },
  },
  {
    // OS plumbing lives in sys/ (docs/sys.md): processes start through its Reaper, libc through its binding.
    files: ['cli/**/*.ts', 'cri/**/*.ts', 'image/**/*.ts', 'taskmanager/**/*.ts', 'shim/**/*.ts', 'proto/**/*.ts', 'common/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testdata/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [
          { name: 'node:child_process', allowTypeImports: true, message: 'start processes through sys/ (spawnHelper, runProcess, Reaper.spawn)' },
          { name: 'child_process', allowTypeImports: true, message: 'start processes through sys/ (spawnHelper, runProcess, Reaper.spawn)' },
          { name: 'koffi', message: 'libc is reached through sys/ (sys/libc.ts)' },
        ],
      }],
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[arguments.0.value='koffi']",
        message: 'koffi is loaded once, by sys/libc.ts: add the call there',
      }],
    },
  },
);
