// ESLint with type information (typescript-eslint's project service reads each package's tsconfig.json).
// Two rules are gates in CI: no floating promises (an unawaited promise loses its error and its ordering),
// and no `any` (it switches the type checker off). Test files may use `any` for parsed JSON answers only
// where a line says so with an eslint-disable comment.
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.data/**', 'services/web/public/**', '**/drizzle/**', 'bench-output/**', 'test-output/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // tap's t.test/t.rejects/… queue a subtest the runner awaits itself: not a lost promise.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: '@tapjs/core', name: ['test', 'todo', 'skip', 'only', 'rejects', 'resolves', 'resolveMatch', 'emits'] },
            { from: 'package', package: '@tapjs/test', name: ['test', 'todo', 'skip', 'only', 'rejects', 'resolves', 'resolveMatch', 'emits'] },
            { from: 'package', package: '@tapjs/asserts', name: ['rejects', 'resolves', 'resolveMatch', 'resolveMatchSnapshot', 'emits'] },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
)
