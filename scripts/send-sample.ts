// `npm run send-sample [-- --type boost|subscription|badge] [--event-id evt_x] [--url http://...]`:
// signs a sample Paddle event with the configured secret and posts it twice, as a retrying provider would.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import { EXAMPLE_CATALOG } from '../plugins/catalog.js'
import { loadPriceCatalog } from '../services/catalog.js'
import { signPaddleBody } from '../services/paddle/signature.js'

const { values } = parseArgs({
  options: {
    type: { type: 'string', default: 'subscription' },
    'event-id': { type: 'string' },
    url: { type: 'string' },
    times: { type: 'string', default: '2' }
  }
})

function secret (): string {
  const configured = process.env.PADDLE_WEBHOOK_SECRET?.split(',')[0]?.trim()
  if (configured) return configured
  const file = join(process.env.DATA_DIR ?? './.data', 'dev-webhook-secret')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    throw new Error(`No PADDLE_WEBHOOK_SECRET and no ${file}: start the service first (npm start) or set the secret.`)
  }
}

const id = (prefix: string) => `${prefix}_${randomBytes(13).toString('hex')}`
const eventId = values['event-id'] ?? id('evt')
const now = new Date().toISOString()

/** The first price of the catalogue (PRICE_CATALOG, or the shipped example) that grants `kind`. */
function priceFor (kind: 'boost' | 'tier' | 'badge'): string {
  const catalog = loadPriceCatalog(process.env.PRICE_CATALOG ?? EXAMPLE_CATALOG)
  for (const [priceId, grant] of catalog.entries()) if (grant.grant === kind) return priceId
  throw new Error(`the catalogue has no price that grants a ${kind}`)
}

function item (priceId: string) {
  return { price_id: priceId, price: { id: priceId }, quantity: 1 }
}

/** Paddle-shaped, cut down to what the service reads plus a little; the tests use the full shapes. */
function sampleEvent (): object {
  const base = { event_id: eventId, notification_id: id('ntf'), occurred_at: now }
  const who = { community_id: 'community_demo', member_id: 'member_demo' }
  if (values.type === 'boost' || values.type === 'badge') {
    const priceId = priceFor(values.type)
    return {
      ...base,
      event_type: 'transaction.completed',
      data: {
        id: id('txn'), status: 'completed', origin: 'web', customer_id: id('ctm'), subscription_id: null, currency_code: 'USD',
        // A badge names the purchase POST /badges/purchase started; this one names none, so it waits for review.
        custom_data: values.type === 'boost' ? who : { ...who, purchase_id: 'bp_sample_without_a_purchase' },
        items: [item(priceId)],
        details: { totals: { total: '1500', currency_code: 'USD' }, line_items: [{ price_id: priceId, quantity: 1, totals: { total: '1500' } }] }
      }
    }
  }
  return {
    ...base,
    event_type: 'subscription.created',
    data: {
      id: id('sub'), status: 'active', customer_id: id('ctm'), custom_data: who,
      items: [{ ...item(priceFor('tier')), status: 'active' }],
      current_billing_period: { starts_at: now, ends_at: new Date(Date.now() + 30 * 86400_000).toISOString() }
    }
  }
}

const url = values.url ?? `http://127.0.0.1:${process.env.PORT ?? 3000}/billing/webhook`
const body = JSON.stringify(sampleEvent())
const key = secret()
for (let attempt = 1; attempt <= Number(values.times); attempt++) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'paddle-signature': signPaddleBody(body, key) },
    body
  })
  console.log(`delivery ${attempt}: ${response.status} ${await response.text()}`)
}
