// Decorates the validated configuration; nothing else in the service reads process.env.
import fp from 'fastify-plugin'
import type { Config } from '../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(async function configPlugin (app, { config }) {
  app.decorate('config', config)
}, { name: 'config' })
