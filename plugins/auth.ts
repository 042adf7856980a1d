// Bearer tokens for the admin and member routes: compared in constant time, several for rotation.
// Routes opt in with `onRequest: app.authenticate`, which runs after redis-guard and before the body
// is read, so an unauthenticated request never takes a lock nor costs a parse.
import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { onRequestHookHandler } from 'fastify'
import { UnauthorizedError } from '../services/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: onRequestHookHandler
  }
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** True when `presented` equals one of `tokens`; hashing first keeps lengths from leaking through timing. */
export function tokenMatches (presented: string, tokens: readonly Buffer[]): boolean {
  const candidate = digest(presented)
  let matched = false
  for (const token of tokens) {
    if (timingSafeEqual(candidate, token)) matched = true
  }
  return matched
}

export default fp(async function authPlugin (app) {
  const tokens = app.config.adminTokens.map(digest)
  if (tokens.length === 0) {
    app.log.warn('ADMIN_API_TOKEN is unset: the admin and member routes answer 401')
  }
  app.decorate('authenticate', function authenticate (request, _reply, done) {
    const header = request.headers.authorization
    if (header === undefined || header === '') {
      done(new UnauthorizedError('Missing Authorization: Bearer <token>'))
      return
    }
    const match = /^Bearer ([\x21-\x7E]{1,512})$/i.exec(header)
    if (tokens.length === 0 || match?.[1] === undefined || !tokenMatches(match[1], tokens)) {
      done(new UnauthorizedError('Invalid bearer token'))
      return
    }
    done()
  } satisfies onRequestHookHandler)
}, { name: 'auth', dependencies: ['config'] })
