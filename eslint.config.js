// ESLint with neostandard, as Fastify's own repositories use it; TypeScript through typescript-eslint.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'db/migrations/**', 'bench/results.json']
  }),
  {
    rules: {
      // TypeBox's idiom: a schema and its Static<> type share one name (`const Foo = Type.Object(...)`,
      // `type Foo = Static<typeof Foo>`), which TypeScript resolves by kind.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
