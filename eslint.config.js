import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['scratch/**', 'dist/**', 'node_modules/**', 'training/**', 'coverage/**', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // The portable core runs in Node and in browsers: platform code is handed to it (src/core/platform.ts).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'src/core must not import Node built-ins; take the capability through src/core/platform.ts' },
            { group: ['sharp', 'onnxruntime-node', 'onnxruntime-web', 'child_process', 'fs', 'fs/*', 'path', 'os', 'crypto', 'url', 'stream', 'worker_threads'], message: 'src/core is platform-free: platform code lives in src/node or src/web' },
            { group: ['**/node/**', '**/web/**', '../cli/**', '../eval/**', '../interpret/**', '../data/**', '../io/**'], message: 'src/core must not import the platform layers or the toolkit' },
          ],
        },
      ],
    },
  },
);
