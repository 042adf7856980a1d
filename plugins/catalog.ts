// The price catalogue: what each Paddle price grants. Loaded and validated once at start; a bad file
// stops the start naming the entry. Without PRICE_CATALOG (refused in production) the shipped example is
// used, and said so.
import { fileURLToPath } from 'node:url'
import fp from 'fastify-plugin'
import { loadPriceCatalog, type PriceCatalog } from '../services/catalog.js'

declare module 'fastify' {
  interface FastifyInstance {
    catalog: PriceCatalog
  }
}

/** The example catalogue: at the repository's root, and copied into dist/ by the build (so /app/dist in the image). */
export const EXAMPLE_CATALOG = fileURLToPath(new URL('../catalog.example.json', import.meta.url))

export default fp(async function catalogPlugin (app) {
  const path = app.config.priceCatalog ?? EXAMPLE_CATALOG
  const catalog = loadPriceCatalog(path)
  if (app.config.priceCatalog === undefined) {
    app.log.warn({ path, prices: catalog.size }, 'PRICE_CATALOG is unset: using the example catalogue (never in production)')
  } else {
    app.log.info({ path, prices: catalog.size }, 'price catalogue loaded')
  }
  app.decorate('catalog', catalog)
}, { name: 'catalog', dependencies: ['config'] })
